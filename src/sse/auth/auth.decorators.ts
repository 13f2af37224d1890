import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata, UseGuards } from '@nestjs/common';
import type { Principal } from './principal.js';
import { PRINCIPAL_KEY, REQUIRED_ROLES } from '../sse.constants.js';
import { TokenAuthGuard } from './token-auth.guard.js';

/** The principal verified by `TokenAuthGuard`. */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, context: ExecutionContext): Principal =>
    context.switchToHttp().getRequest<{ [PRINCIPAL_KEY]: Principal }>()[PRINCIPAL_KEY],
);

/** Requires a verified bearer token, and with role names, every one of those roles (else 403). */
export function Authenticated(...roles: string[]): ClassDecorator & MethodDecorator {
  return applyDecorators(SetMetadata(REQUIRED_ROLES, roles), UseGuards(TokenAuthGuard));
}
