// Plain NestJS the way tutorials write it: one shared Subject, every stream
// subscribes to it and filters by user; a guard verifies the JWT with jose.
import 'reflect-metadata';
import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  ForbiddenException,
  HttpCode,
  Injectable,
  type MessageEvent,
  Module,
  Post,
  Req,
  Sse,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jwtVerify } from 'jose';
import { filter, map, type Observable, Subject } from 'rxjs';
import { listenNest, quietLogger } from '../lib/listen.js';
import { announceReady, serveServerIpc } from './server-ipc.js';

const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
if (!process.env.JWT_SECRET) throw new Error('JWT_SECRET is required');

interface AppEvent {
  userId?: string;
  broadcast?: boolean;
  id: string;
  type: string;
  data: unknown;
}

interface AuthedRequest {
  headers: Record<string, string | undefined>;
  user?: { sub: string; roles?: string[] };
}

@Injectable()
class JwtAuthGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const [scheme, token] = (request.headers.authorization ?? '').split(' ');
    if (scheme !== 'Bearer' || !token) throw new UnauthorizedException();
    try {
      const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
      request.user = payload as AuthedRequest['user'];
      return true;
    } catch {
      throw new UnauthorizedException();
    }
  }
}

@Injectable()
class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    if (!request.user?.roles?.includes('admin')) throw new ForbiddenException();
    return true;
  }
}

@Injectable()
class EventsService {
  readonly events$ = new Subject<AppEvent>();
  private seq = 0;

  emit(event: Omit<AppEvent, 'id'>): string {
    const id = `${Date.now()}-${this.seq++}`;
    this.events$.next({ ...event, id });
    return id;
  }
}

class PublishDto {
  userId?: string;
  userIds?: string[];
  broadcast?: boolean;
  type!: string;
  data?: unknown;
}

@Controller()
class EventsController {
  constructor(private readonly events: EventsService) {}

  @Sse('sse')
  @UseGuards(JwtAuthGuard)
  stream(@Req() request: AuthedRequest): Observable<MessageEvent> {
    const userId = request.user!.sub;
    return this.events.events$.pipe(
      filter((event) => event.broadcast === true || event.userId === userId),
      map((event) => ({ type: event.type, id: event.id, data: event.data as object })),
    );
  }

  @Post('publish')
  @HttpCode(202)
  @UseGuards(JwtAuthGuard, AdminGuard)
  publish(@Body() body: PublishDto): { id: string } {
    if (body.broadcast) return { id: this.events.emit({ broadcast: true, type: body.type, data: body.data }) };
    const users = body.userIds ?? (body.userId ? [body.userId] : []);
    let id = '';
    for (const userId of users) id = this.events.emit({ userId, type: body.type, data: body.data });
    return { id };
  }
}

@Module({ controllers: [EventsController], providers: [EventsService] })
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: quietLogger });
const events = app.get(EventsService);
serveServerIpc(() => ({
  streams: events.events$.observers.length,
  'subject.observers': events.events$.observers.length,
}));
announceReady(await listenNest(app, Number(process.env.PORT ?? 0)));
