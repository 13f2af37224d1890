import { SseSetupError } from './sse-setup.error.js';

/**
 * What the module's guards and interceptor get in place of the module's
 * providers when `SseModule` is not reachable from the module that uses them:
 * a boot-time error that says what to do, instead of Nest's unresolved
 * dependency of a class the application never wrote.
 */
export function requireSseModule<T>(provided: T | null | undefined, user: string): T {
  if (provided === undefined || provided === null) {
    throw new SseSetupError(
      `${user} needs SseModule's options, which this module cannot see. Import SseModule.forRoot({ auth: ... }) ` +
        '(or forRootAsync), not the bare SseModule class, once, in the root module: it is global, so every module ' +
        'can then declare @SseRoute() routes and inject NotificationService. With isGlobal: false, import that ' +
        'same configured module into each module that uses it.',
    );
  }
  return provided;
}
