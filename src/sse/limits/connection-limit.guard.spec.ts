import { HttpException, HttpStatus, type ExecutionContext } from '@nestjs/common';
import { SseUnavailableError } from '../http/sse-unavailable.error.js';
import type { HttpAdapterHost } from '@nestjs/core';
import { EventEmitter } from 'node:events';
import { ConnectionLimitGuard } from './connection-limit.guard.js';
import { type AcquireResult, ConnectionLimiter, type ConnectionUsage } from './connection-limiter.js';
import { InMemoryConnectionLimiter } from './in-memory-connection.limiter.js';
import type { Principal } from '../auth/principal.js';
import { resolveOptions } from '../sse.options.js';
import { PRINCIPAL_KEY } from '../sse.constants.js';
import { NoSseMetrics } from '../observability/sse-metrics.js';
import { SseWriter } from '../http/sse-writer.js';
import { rejection } from '../../../test/harness/rejection.js';

/** What the guard sees of a Node response. */
class FakeResponse extends EventEmitter {
  destroyed = false;
  writableFinished = false;
}

function principal(userId: string): Principal {
  return { userId, roles: [], claims: {} };
}

function contextOf(request: object, response: object): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response, getNext: () => undefined }),
    getHandler: () => function handler() {},
    getClass: () => class Controller {},
  } as unknown as ExecutionContext;
}

function setup(
  maxPerUser = 1,
  maxTotal = 100,
  retryAfterSeconds = 7,
  limiter: ConnectionLimiter = new InMemoryConnectionLimiter(maxPerUser, maxTotal, 'test-instance'),
) {
  const options = resolveOptions({ auth: { jwt: { secret: 'unused' } }, retryAfterSeconds });
  const calls: { response: unknown; name: string; value: string }[] = [];
  const host = {
    httpAdapter: { setHeader: (response: unknown, name: string, value: string) => calls.push({ response, name, value }) },
  } as unknown as HttpAdapterHost;
  const guard = new ConnectionLimitGuard(options, limiter, host, new NoSseMetrics(), new SseWriter(options, new NoSseMetrics()));
  /** Opens a request of a user on a fresh response. */
  const open = async (userId: string, response: object = new FakeResponse()) => {
    await guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal(userId) }, response));
    return response;
  };
  return { guard, limiter, calls, open };
}

/** Lets the async release run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ConnectionLimitGuard', () => {
  it('takes a slot for the principal and lets the request in', async () => {
    const { guard, limiter, calls } = setup(2);
    await expect(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('alice') }, new FakeResponse()))).resolves.toBe(true);
    expect(await limiter.held('alice')).toBe(1);
    expect(calls).toEqual([]);
  });

  it('answers 429 with Retry-After past the per-user limit', async () => {
    const { guard, limiter, calls, open } = setup(1);
    await open('alice');
    const response = new FakeResponse();
    const err = await rejection(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('alice') }, response)));
    expect(err).toBeInstanceOf(HttpException);
    const http = err as HttpException;
    expect(http.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    const body = http.getResponse() as { message: string; scope: string; limit: number; statusCode: number };
    expect(body.message).toContain('Too many connections');
    expect(body).toMatchObject({ statusCode: 429, scope: 'user', limit: 1 });
    expect(calls).toEqual([{ response, name: 'Retry-After', value: '7' }]);
    // The refused request holds no slot and listens to nothing.
    expect(await limiter.held('alice')).toBe(1);
    expect(response.listenerCount('close')).toBe(0);
  });

  it('answers 429 past the instance limit, for any user', async () => {
    const { guard, calls, open } = setup(5, 2, 30);
    await open('a');
    await open('b');
    const err = (await rejection(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('c') }, new FakeResponse())))) as HttpException;
    expect(err.getStatus()).toBe(429);
    expect(err.getResponse()).toMatchObject({ scope: 'instance', limit: 2 });
    expect((err.getResponse() as { message: string }).message).toContain('Too many connections');
    expect(calls.map((c) => [c.name, c.value])).toEqual([['Retry-After', '30']]);
  });

  it('releases the slot when the response closes, once', async () => {
    const { limiter, open } = setup(1);
    const response = (await open('alice')) as FakeResponse;
    expect(await limiter.held('alice')).toBe(1);
    response.emit('close');
    await settle();
    expect(await limiter.held('alice')).toBe(0);

    // A second close does not free a slot taken since.
    await open('alice');
    response.emit('close');
    await settle();
    expect(await limiter.held('alice')).toBe(1);
  });

  it('lets the user in again once a closed response freed the slot', async () => {
    const { guard, open } = setup(1);
    const response = (await open('alice')) as FakeResponse;
    await expect(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('alice') }, new FakeResponse()))).rejects.toBeInstanceOf(
      HttpException,
    );
    response.emit('close');
    await settle();
    await expect(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('alice') }, new FakeResponse()))).resolves.toBe(true);
  });

  it('releases at once when the response is already destroyed', async () => {
    const { limiter, open } = setup(1);
    const response = new FakeResponse();
    response.destroyed = true;
    await open('alice', response);
    await settle();
    expect(await limiter.held('alice')).toBe(0);
    expect(response.listenerCount('close')).toBe(0);
  });

  it('releases at once when the response has already finished', async () => {
    const { limiter, open } = setup(1);
    const response = new FakeResponse();
    response.writableFinished = true;
    await open('alice', response);
    await settle();
    expect(await limiter.held('alice')).toBe(0);
  });

  it('listens on the raw Node response of an adapter that wraps it', async () => {
    const { limiter, open } = setup(1);
    const raw = new FakeResponse();
    await open('alice', { raw });
    expect(raw.listenerCount('close')).toBe(1);
    raw.emit('close');
    await settle();
    expect(await limiter.held('alice')).toBe(0);
  });

  it('throws a clear error, taking no slot, when no principal is on the request', async () => {
    const { guard, limiter } = setup(1);
    const err = await rejection(guard.canActivate(contextOf({}, new FakeResponse())));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(HttpException);
    expect((err as Error).message).toBe(
      'ConnectionLimitGuard needs an authenticated principal: put TokenAuthGuard before it',
    );
    expect((await limiter.usage()).streams).toBe(0);
  });

  it('answers 503 carrying its Retry-After (set by RetryAfterFilter) when the limiter cannot count', async () => {
    class UnreachableLimiter extends ConnectionLimiter {
      async acquire(): Promise<AcquireResult> {
        throw new Error('connection refused');
      }
      async held(): Promise<number> {
        return 0;
      }
      async usage(): Promise<ConnectionUsage> {
        return { streams: 0, users: 0, instances: [] };
      }
    }
    const { guard, calls } = setup(1, 100, 5, new UnreachableLimiter());
    const response = new FakeResponse();
    const err = await rejection(guard.canActivate(contextOf({ [PRINCIPAL_KEY]: principal('alice') }, response)));
    expect(err).toBeInstanceOf(SseUnavailableError);
    expect((err as SseUnavailableError).getStatus()).toBe(503);
    expect((err as SseUnavailableError).retryAfterSeconds).toBe(5);
    // The header is the filter's to set, as for every 503 of the module.
    expect(calls).toEqual([]);
    expect(response.listenerCount('close')).toBe(0);
  });
});
