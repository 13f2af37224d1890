import { Body, Controller, HttpCode, Injectable, type MessageEvent, Module, Post, StandardSchemaValidationPipe } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import {
  Authenticated,
  CurrentPrincipal,
  NotificationService,
  type Principal,
  SseModule,
  SseRoute,
  SseSetupError,
} from '../src/sse/index.js';
import { TEST_ADAPTER } from './harness/demo-server.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { rejection } from './harness/rejection.js';
import { TestStream } from './harness/sse-client.js';
import { listenTestApp, type RunningApp } from './harness/test-app.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';

/**
 * SSE routes and publishing from any module of an app, not only the one that
 * calls `SseModule.forRoot()`: a feature module with an `@SseRoute()`
 * controller and a service that injects `NotificationService`, as an app of
 * several modules has them. And the ways to get it wrong, each of which fails
 * at boot with a message that names the fix. Small apps of this suite's own,
 * on the HTTP platform of the Jest project.
 */

const todoSchema = z.strictObject({ userId: z.string().min(1), title: z.string().min(1) });

/** A feature's own service, publishing through the module. */
@Injectable()
class TodoService {
  constructor(private readonly notifications: NotificationService) {}

  remind(userId: string, title: string): Promise<string> {
    return this.notifications.publishToUser(userId, 'todo', { title });
  }
}

/** A feature's controller: a stream and a publish, in a module that does not import SseModule. */
@Controller('sse')
class TodoController {
  constructor(
    private readonly notifications: NotificationService,
    private readonly todos: TodoService,
  ) {}

  @SseRoute()
  events(@CurrentPrincipal() principal: Principal): Observable<MessageEvent> {
    return this.notifications.stream(principal);
  }

  @Post('todos')
  @HttpCode(202)
  @Authenticated('admin')
  async remind(@Body({ schema: todoSchema, pipes: [StandardSchemaValidationPipe] }) body: z.output<typeof todoSchema>) {
    return { id: await this.todos.remind(body.userId, body.title) };
  }
}

@Module({ controllers: [TodoController], providers: [TodoService] })
class TodoModule {}

const options = { auth: { jwt: { secret: TEST_JWT_SECRET } } };

@Module({ imports: [SseModule.forRoot(options), TodoModule] })
class AppWithFeatureModule {}

// isGlobal: false, and the same configured module imported where it is used.
const scopedSse = SseModule.forRoot({ ...options, isGlobal: false });

@Module({ imports: [scopedSse], controllers: [TodoController], providers: [TodoService] })
class ScopedTodoModule {}

@Module({ imports: [scopedSse, ScopedTodoModule] })
class AppWithScopedModule {}

// Mistakes.
@Module({ controllers: [TodoController] })
class StreamsOnlyModule {}

@Module({ imports: [StreamsOnlyModule] })
class AppWithoutSseModule {}

@Module({ imports: [SseModule.forRoot({ ...options, isGlobal: false }), StreamsOnlyModule] })
class AppWithScopedModuleNotImported {}

@Module({ imports: [SseModule], controllers: [TodoController] })
class BareClassModule {}

@Module({ imports: [BareClassModule] })
class AppWithBareClass {}

afterEach(closeOpened);

async function remind(url: string, body: unknown, token: string): Promise<Response> {
  return fetch(`${url}/sse/todos`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

describe(`SSE routes and NotificationService in a feature module · ${TEST_ADAPTER}`, () => {
  const running: RunningApp[] = [];
  afterAll(() => Promise.all(running.map(({ app }) => app.close())));

  for (const [name, module] of [
    ['SseModule.forRoot() in the root module only (global by default)', AppWithFeatureModule],
    ['isGlobal: false, the configured module imported where it is used', AppWithScopedModule],
  ] as const) {
    test(`${name}: a stream from the feature's route gets what the feature's service publishes`, async () => {
      const app = await listenTestApp(module);
      running.push(app);
      const admin = await signToken('admin', { roles: ['admin'] });
      const stream = track(await TestStream.open(app.url, await signToken('alice'), { types: ['todo'] }));

      const res = await remind(app.url, { userId: 'alice', title: 'Call Bob' }, admin);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect((await stream.waitForType('todo')).map(({ id: got, data }) => ({ id: got, data }))).toEqual([
        { id, data: '{"title":"Call Bob"}' },
      ]);

      // The feature's routes are guarded as any: no token is a 401, a missing or empty body a 400 (not a 500).
      expect((await remind(app.url, { userId: 'alice', title: 'x' }, await signToken('alice'))).status).toBe(403);
      for (const body of [undefined, {}, { userId: 'alice' }]) {
        const refused = await remind(app.url, body, admin);
        expect({ body, status: refused.status }).toEqual({ body, status: 400 });
        expect(((await refused.json()) as { statusCode: number }).statusCode).toBe(400);
      }
    });
  }
});

describe(`a module that cannot see SseModule fails at boot, naming the fix · ${TEST_ADAPTER}`, () => {
  for (const [name, module] of [
    ['SseModule never imported', AppWithoutSseModule],
    ['SseModule.forRoot({ isGlobal: false }) not imported where its routes are', AppWithScopedModuleNotImported],
    ['the bare SseModule class imported instead of forRoot()', AppWithBareClass],
  ] as const) {
    test(name, async () => {
      const err = await rejection(listenTestApp(module));
      expect(err).toBeInstanceOf(SseSetupError);
      const message = (err as Error).message;
      expect(message).toContain('Import SseModule.forRoot({ auth: ... }) (or forRootAsync), not the bare SseModule class');
      expect(message).not.toMatch(/can't resolve dependencies/);
      // One line when logged: no stack trace into Nest's injector.
      expect((err as Error).stack).toBe(`SseSetupError: ${message}`);
    });
  }
});
