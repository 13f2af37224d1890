import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';

describe('smoke', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  it('delivers a published event to the user', async () => {
    const stream = await TestStream.open(server.url, await signToken('alice'), { types: ['todo'] });
    const res = await server.publish({ userId: 'alice', type: 'todo', data: { n: 1 } });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    const [event] = await stream.waitForType('todo');
    expect(event).toEqual({ type: 'todo', id, data: '{"n":1}' });
    stream.close();
  });
});
