// The floor: a minimal node:http SSE server. A Map of user to responses; each
// event is serialized once and written with one res.write per recipient.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerOf, verifyJwt } from '../lib/jwt.js';
import { LISTEN_BACKLOG } from '../lib/listen.js';
import { announceReady, serveServerIpc } from './server-ipc.js';

const secret = process.env.JWT_SECRET;
if (!secret) throw new Error('JWT_SECRET is required');
const MAX_BODY = 64 * 1024;

const byUser = new Map<string, Set<ServerResponse>>();
let streams = 0;
let lastMs = 0;
let seq = 0;

function nextId(): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    seq = 0;
  } else seq++;
  return `${lastMs}-${seq}`;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function stream(req: IncomingMessage, res: ServerResponse): void {
  const token = bearerOf(req.headers.authorization);
  const claims = token ? verifyJwt(secret!, token) : undefined;
  if (!claims) return answer(res, 401, { statusCode: 401, message: 'Unauthorized' });
  const userId = claims.sub;
  let set = byUser.get(userId);
  if (!set) byUser.set(userId, (set = new Set()));
  set.add(res);
  streams++;
  req.socket.setNoDelay(true);
  req.socket.setTimeout(0);
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.flushHeaders();
  res.once('close', () => {
    streams--;
    const own = byUser.get(userId);
    if (own?.delete(res) && own.size === 0) byUser.delete(userId);
  });
}

interface PublishBody {
  userId?: string;
  userIds?: string[];
  topic?: string;
  broadcast?: boolean;
  type?: string;
  data?: unknown;
}

function publish(req: IncomingMessage, res: ServerResponse): void {
  const token = bearerOf(req.headers.authorization);
  const claims = token ? verifyJwt(secret!, token) : undefined;
  if (!claims) return answer(res, 401, { statusCode: 401, message: 'Unauthorized' });
  if (!claims.roles.includes('admin')) return answer(res, 403, { statusCode: 403, message: 'Forbidden' });
  const chunks: Buffer[] = [];
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    length += chunk.length;
    if (length <= MAX_BODY) chunks.push(chunk);
  });
  req.on('end', () => {
    if (length > MAX_BODY) return answer(res, 413, { statusCode: 413, message: 'Payload Too Large' });
    let body: PublishBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PublishBody;
    } catch {
      return answer(res, 400, { statusCode: 400, message: 'Malformed JSON' });
    }
    if (typeof body.type !== 'string' || !body.type || /[\r\n]/.test(body.type)) {
      return answer(res, 400, { statusCode: 400, message: 'type is required' });
    }
    const id = nextId();
    // One serialization per event, whatever the number of recipients.
    const frame = `event: ${body.type}\nid: ${id}\ndata: ${JSON.stringify(body.data ?? null)}\n\n`;
    if (body.broadcast === true) {
      for (const set of byUser.values()) for (const target of set) target.write(frame);
    } else {
      const users = body.userIds ?? (body.userId !== undefined ? [body.userId] : []);
      for (const userId of users) byUser.get(userId)?.forEach((target) => target.write(frame));
    }
    answer(res, 202, { id });
  });
}

const server = createServer((req, res) => {
  const path = req.url?.split('?')[0];
  if (req.method === 'GET' && path === '/sse') return stream(req, res);
  if (req.method === 'POST' && path === '/publish') return publish(req, res);
  if (req.method === 'GET' && path === '/stats') return answer(res, 200, { streams, users: byUser.size });
  answer(res, 404, { statusCode: 404, message: 'Not Found' });
});

serveServerIpc(() => {
  let responses = 0;
  for (const set of byUser.values()) responses += set.size;
  return { streams, users: byUser.size, 'byUser.size': byUser.size, 'byUser.responses': responses };
});

server.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: LISTEN_BACKLOG }, () => {
  announceReady((server.address() as AddressInfo).port);
});
