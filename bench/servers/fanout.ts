// The floor both baseline servers share: a Map of user to responses; each
// event is serialized once and written with one res.write per recipient.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerOf, verifyJwt } from '../lib/jwt.js';

const MAX_BODY = 64 * 1024;

interface PublishBody {
  userId?: string;
  userIds?: string[];
  topic?: string;
  broadcast?: boolean;
  type?: string;
  data?: unknown;
}

export function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** GET /sse, POST /publish and the counts, over one Map of user to responses. */
export class Fanout {
  private readonly byUser = new Map<string, Set<ServerResponse>>();
  private streams = 0;
  private lastMs = 0;
  private seq = 0;

  constructor(private readonly secret: string) {}

  readonly stream = (req: IncomingMessage, res: ServerResponse): void => {
    const token = bearerOf(req.headers.authorization);
    const claims = token ? verifyJwt(this.secret, token) : undefined;
    if (!claims) return answer(res, 401, { statusCode: 401, message: 'Unauthorized' });
    const userId = claims.sub;
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(res);
    this.streams++;
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
    res.once('close', () => {
      this.streams--;
      const own = this.byUser.get(userId);
      if (own?.delete(res) && own.size === 0) this.byUser.delete(userId);
    });
  };

  readonly publish = (req: IncomingMessage, res: ServerResponse): void => {
    const token = bearerOf(req.headers.authorization);
    const claims = token ? verifyJwt(this.secret, token) : undefined;
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
      const id = this.nextId();
      // One serialization per event, whatever the number of recipients.
      const frame = `event: ${body.type}\nid: ${id}\ndata: ${JSON.stringify(body.data ?? null)}\n\n`;
      if (body.broadcast === true) {
        for (const set of this.byUser.values()) for (const target of set) target.write(frame);
      } else {
        const users = body.userIds ?? (body.userId !== undefined ? [body.userId] : []);
        for (const userId of users) this.byUser.get(userId)?.forEach((target) => target.write(frame));
      }
      answer(res, 202, { id });
    });
  };

  readonly stats = (_req: IncomingMessage, res: ServerResponse): void => {
    answer(res, 200, { streams: this.streams, users: this.byUser.size });
  };

  counts(): Record<string, number> {
    let responses = 0;
    for (const set of this.byUser.values()) responses += set.size;
    return { streams: this.streams, users: this.byUser.size, 'byUser.size': this.byUser.size, 'byUser.responses': responses };
  }

  private nextId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else this.seq++;
    return `${this.lastMs}-${this.seq}`;
  }
}
