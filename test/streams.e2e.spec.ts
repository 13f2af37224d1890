import { EventSource } from 'eventsource';
import { startDemoServer, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { EVENT_ID } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { blocksOf, RawStream } from './harness/raw-stream.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

function eventBlocks(body: string, type: string): string[][] {
  return blocksOf(body).filter((lines) => lines.includes(`event: ${type}`));
}

/** Whether a block is a comment only (what a heartbeat is). */
function isComment(lines: string[]): boolean {
  return lines.every((line) => line.startsWith(':'));
}

afterEach(closeOpened);

describe('streams', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  describe('delivery to a user', () => {
    it('gives every stream of the user the same event with the same id, and other users nothing', async () => {
      const alice = await signToken('alice-delivery');
      const a1 = track(await TestStream.open(server.url, alice, { types: ['note'] }));
      const a2 = track(await TestStream.open(server.url, alice, { types: ['note'] }));
      const bob = track(await TestStream.open(server.url, await signToken('bob-delivery'), { types: ['note'] }));

      const id = await server.publishId({ userId: 'alice-delivery', type: 'note', data: { text: 'hi' } });

      const [first] = await a1.waitForType('note');
      const [second] = await a2.waitForType('note');
      expect(first).toEqual({ type: 'note', id, data: '{"text":"hi"}' });
      expect(second).toEqual(first);

      // Give a wrong delivery its chance, then check nobody else (and nobody twice) got it.
      await sleep(300);
      expect(bob.ofType('note')).toEqual([]);
      expect(bob.ofType('message')).toEqual([]);
      expect(a1.ofType('note')).toHaveLength(1);
      expect(a2.ofType('note')).toHaveLength(1);
    });

    it('starts every stream with an sse.ready event whose id has the event id form', async () => {
      const stream = track(await TestStream.open(server.url, await signToken('ready-user')));
      expect(stream.events[0].type).toBe('sse.ready');
      expect(stream.events[0].id).toMatch(EVENT_ID);
      expect(JSON.parse(stream.events[0].data)).toEqual({ heartbeatMs: 15_000 });
    });
  });

  describe('live from the start', () => {
    it('delivers an event published from the EventSource open handler', async () => {
      const userId = 'early-open';
      const stream = track(new TestStream(server.url, await signToken(userId), { types: ['early'] }));
      const published = new Promise<string>((resolve, reject) => {
        stream.source.addEventListener(
          'open',
          () => {
            server.publishId({ userId, type: 'early', data: { n: 1 } }).then(resolve, reject);
          },
          { once: true },
        );
      });
      const id = await published;
      const [event] = await stream.waitForType('early');
      expect(event).toEqual({ type: 'early', id, data: '{"n":1}' });
      expect(stream.events.map((e) => e.type)).toEqual(['sse.ready', 'early']);
    });

    it('delivers an event published as soon as the response headers arrive (raw)', async () => {
      const userId = 'early-raw';
      const raw = track(
        await RawStream.open(`${server.url}/sse`, { Authorization: `Bearer ${await signToken(userId)}` }),
      );
      expect(raw.status).toBe(200);
      const id = await server.publishId({ userId, type: 'early', data: 'now' });
      await raw.until((body) => eventBlocks(body, 'early').length > 0);
      expect(eventBlocks(raw.body, 'early')).toEqual([['event: early', `id: ${id}`, 'data: "now"']]);
    });

    it('delivers an event published right after the ready event', async () => {
      const userId = 'early-ready';
      const stream = track(await TestStream.open(server.url, await signToken(userId), { types: ['early'] }));
      const id = await server.publishId({ userId, type: 'early', data: null });
      const [event] = await stream.waitForType('early');
      expect(event).toEqual({ type: 'early', id, data: 'null' });
    });
  });

  describe('wire format', () => {
    it('begins the body with the ready event, which carries the configured retry: and an id', async () => {
      const raw = track(
        await RawStream.open(`${server.url}/sse`, { Authorization: `Bearer ${await signToken('wire-user')}` }),
      );
      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
      await raw.until((body) => blocksOf(body).length > 0);

      // Nothing but blank lines may come before the ready event.
      expect(raw.body).toMatch(/^\n*event: sse\.ready\n/);
      const [ready] = blocksOf(raw.body);
      expect(ready[0]).toBe('event: sse.ready');
      expect(ready).toContain(`retry: ${TEST_CONFIG.retryMs}`);
      const idLine = ready.find((line) => line.startsWith('id: '));
      expect(idLine?.slice(4)).toMatch(EVENT_ID);
      expect(ready).toContain('data: {"heartbeatMs":15000}');
      expect(ready).toHaveLength(4);
    });

    it('writes each event as event:, id: and data: lines, data being exactly the JSON of the payload', async () => {
      const userId = 'wire-events';
      const raw = track(
        await RawStream.open(`${server.url}/sse`, { Authorization: `Bearer ${await signToken(userId)}` }),
      );
      await raw.until((body) => eventBlocks(body, 'sse.ready').length > 0);

      const payloads: unknown[] = [
        { text: 'héllo ✓', list: [1, 2, { deep: true }], none: null },
        'a plain string',
        42,
        [],
        false,
      ];
      const ids: string[] = [];
      for (const payload of payloads) ids.push(await server.publishId({ userId, type: 'wire', data: payload }));
      // No data at all is sent as null.
      ids.push(await server.publishId({ userId, type: 'wire' }));

      await raw.until((body) => eventBlocks(body, 'wire').length === payloads.length + 1);
      expect(eventBlocks(raw.body, 'wire')).toEqual([
        ...payloads.map((payload, i) => ['event: wire', `id: ${ids[i]}`, `data: ${JSON.stringify(payload)}`]),
        ['event: wire', `id: ${ids[payloads.length]}`, 'data: null'],
      ]);
      // Only the first write carries retry:.
      expect(raw.body.match(/^retry:/gm)).toHaveLength(1);
    });
  });

  describe('string data with newlines', () => {
    const text = 'line1\nline2\r\nline3';

    it('arrives as one event whose JSON.parse(data) equals the original', async () => {
      const userId = 'newline-user';
      const stream = track(await TestStream.open(server.url, await signToken(userId), { types: ['multi'] }));
      const id = await server.publishId({ userId, type: 'multi', data: text });
      const objectId = await server.publishId({ userId, type: 'multi', data: { text, more: ['\r', '\n'] } });

      const events = await stream.waitForType('multi', 2);
      expect(events[0]).toEqual({ type: 'multi', id, data: JSON.stringify(text) });
      expect(JSON.parse(events[0].data)).toBe(text);
      expect(events[1].id).toBe(objectId);
      expect(JSON.parse(events[1].data)).toEqual({ text, more: ['\r', '\n'] });

      await sleep(200);
      expect(stream.ofType('multi')).toHaveLength(2);
      expect(stream.ofType('message')).toEqual([]);
    });

    it('is written as a single data: line', async () => {
      const userId = 'newline-raw';
      const raw = track(
        await RawStream.open(`${server.url}/sse`, { Authorization: `Bearer ${await signToken(userId)}` }),
      );
      const id = await server.publishId({ userId, type: 'multi', data: text });
      await raw.until((body) => eventBlocks(body, 'multi').length > 0);
      expect(eventBlocks(raw.body, 'multi')).toEqual([['event: multi', `id: ${id}`, 'data: "line1\\nline2\\r\\nline3"']]);
      expect(raw.body).not.toMatch(/^line[23]/m);
    });
  });

  describe('?topics=', () => {
    it.each([
      ['LF', 'ok,bad%0Atopic'],
      ['CR', 'bad%0Dtopic'],
      ['CRLF with an injected field', 'x%0D%0Aevent:%20evil'],
      ['LF, as a repeated parameter', 'ok&topics=bad%0A'],
    ])('refuses a topic containing %s with 400 before any stream starts', async (_, query) => {
      const raw = track(
        await RawStream.open(`${server.url}/sse?topics=${query}`, {
          Authorization: `Bearer ${await signToken('topic-crlf')}`,
        }),
      );
      await raw.until((_body, closed) => closed);
      expect(raw.status).toBe(400);
      expect(raw.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(raw.body) as { statusCode: number; message: string };
      expect(body.statusCode).toBe(400);
      expect(body.message).toMatch(/topic/);
      expect(raw.body).not.toContain('event:');
    });
  });
});

/**
 * A real EventSource whose fetch also records the request headers and the raw
 * bytes it hands to the client, and lets the test end the body client-side
 * (which makes the EventSource reconnect, sending its last event id).
 */
class TappedStream {
  readonly requests: Array<Record<string, string>> = [];
  readonly readies: Array<{ id: string; data: string }> = [];
  readonly messages: string[] = [];
  raw = '';
  readonly source: EventSource;
  private terminate?: () => void;

  constructor(url: string, token: string) {
    this.source = new EventSource(`${url}/sse`, {
      fetch: async (input, init) => {
        const headers: Record<string, string> = { ...init.headers, Authorization: `Bearer ${token}` };
        this.requests.push(headers);
        const res = await fetch(input, { ...init, headers });
        if (!res.body) return res;
        const decoder = new TextDecoder();
        const tap = new TransformStream<Uint8Array, Uint8Array>({
          start: (controller) => {
            this.terminate = () => controller.terminate();
          },
          transform: (chunk, controller) => {
            this.raw += decoder.decode(chunk, { stream: true });
            controller.enqueue(chunk);
          },
        });
        return new Response(res.body.pipeThrough(tap), { status: res.status, headers: res.headers });
      },
    });
    this.source.addEventListener('sse.ready', (event) => this.readies.push({ id: event.lastEventId, data: event.data }));
    this.source.addEventListener('message', (event) => this.messages.push(event.data));
  }

  /** Ends the current response body as if the connection had dropped. */
  dropConnection(): void {
    this.terminate?.();
  }

  close(): void {
    this.source.close();
  }
}

describe('heartbeats', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer({ heartbeatMs: 200 })));
  afterAll(() => server.close());

  it('are written as comment lines only', async () => {
    const raw = track(
      await RawStream.open(`${server.url}/sse`, { Authorization: `Bearer ${await signToken('beat-raw')}` }),
    );
    await raw.until((body) => blocksOf(body).filter(isComment).length >= 2, 5000);
    const blocks = blocksOf(raw.body);
    expect(blocks[0]).toContain('data: {"heartbeatMs":200}');
    expect(raw.body).toMatch(/^:/m);
    for (const block of blocks.slice(1)) {
      // A heartbeat has no field an EventSource acts on (no id:, event:, data:, retry:).
      expect(isComment(block)).toBe(true);
    }
  });

  it('dispatch no event and leave the EventSource last event id as it was', async () => {
    const stream = track(new TappedStream(server.url, await signToken('beat-client')));
    await eventually(() => stream.readies.length === 1, 5000, 'the ready event');
    const readyId = stream.readies[0].id;
    expect(readyId).toMatch(EVENT_ID);

    const heartbeats = () => blocksOf(stream.raw).filter(isComment).length;
    await eventually(() => heartbeats() >= 3, 5000, 'three heartbeats');
    expect(stream.readies).toHaveLength(1);
    expect(stream.messages).toEqual([]);

    // The id an EventSource sends back on reconnecting is its last event id.
    stream.dropConnection();
    await eventually(() => stream.requests.length === 2, 6000, 'the reconnect');
    expect(stream.requests[0]['Last-Event-ID']).toBeUndefined();
    expect(stream.requests[1]['Last-Event-ID']).toBe(readyId);
    await eventually(() => stream.readies.length === 2, 5000, 'the resumed stream');
  });
});
