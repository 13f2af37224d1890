import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { RedisBackplane } from '../redis/redis-backplane.js';
import { RedisKeys } from '../redis/redis-keys.js';
import { resolveOptions, type SseModuleOptions } from '../sse.options.js';
import { InMemoryInboxStore } from './in-memory-inbox.store.js';
import { chooseInboxStore } from './inbox-store.choice.js';
import { RedisInboxStore } from './redis-inbox.store.js';

/** A backplane that only registers scripts: enough to build a Redis store, which sends nothing until used. */
const backplane = { keys: new RedisKeys('sse:'), script: () => async () => undefined } as unknown as RedisBackplane;

function options(inbox: SseModuleOptions['inbox']) {
  return resolveOptions({ auth: { jwt: { secret: 'choice' } }, inbox });
}

describe('which inbox store', () => {
  let warn: jest.SpiedFunction<Logger['warn']>;
  beforeEach(() => (warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined)));
  afterEach(() => warn.mockRestore());

  it('memory by default without Redis, silently', async () => {
    expect(await chooseInboxStore(options(undefined), null)).toBeInstanceOf(InMemoryInboxStore);
    expect(warn).not.toHaveBeenCalled();
  });

  it("the Redis backplane's by default when Redis is set", async () => {
    expect(await chooseInboxStore(options(undefined), backplane)).toBeInstanceOf(RedisInboxStore);
    expect(warn).not.toHaveBeenCalled();
  });

  it('memory beside a Redis backplane only when asked for, and then it says so at startup', async () => {
    expect(await chooseInboxStore(options({ store: 'memory' }), backplane)).toBeInstanceOf(InMemoryInboxStore);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/each instance keeps inboxes of its own/);
  });

  it("an application's own store as it is", async () => {
    const own = new InMemoryInboxStore({ maxItems: 1, maxAgeMs: 1 });
    expect(await chooseInboxStore(options({ store: own }), backplane)).toBe(own);
  });

  it('refuses Redis without a backplane, and a store it does not know', async () => {
    await expect(chooseInboxStore(options({ store: 'redis' }), null)).rejects.toThrow(/needs the redis option/);
    await expect(chooseInboxStore(options({ store: 'mongo' as 'memory' }), null)).rejects.toThrow(/inbox.store must be/);
  });

  it('refuses retention that is not a positive whole number', () => {
    expect(() => options({ maxItems: 0 })).toThrow(/inbox.maxItems/);
    expect(() => options({ maxAgeMs: 1.5 })).toThrow(/inbox.maxAgeMs/);
  });
});
