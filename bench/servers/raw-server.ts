// The floor: a minimal node:http SSE server (see fanout.ts), routed by hand.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LISTEN_BACKLOG } from '../lib/listen.js';
import { answer, Fanout } from './fanout.js';
import { announceReady, serveServerIpc } from './server-ipc.js';

const secret = process.env.JWT_SECRET;
if (!secret) throw new Error('JWT_SECRET is required');
const fanout = new Fanout(secret);

const server = createServer((req, res) => {
  const path = req.url?.split('?')[0];
  if (req.method === 'GET' && path === '/sse') return fanout.stream(req, res);
  if (req.method === 'POST' && path === '/publish') return fanout.publish(req, res);
  if (req.method === 'GET' && path === '/stats') return fanout.stats(req, res);
  answer(res, 404, { statusCode: 404, message: 'Not Found' });
});

serveServerIpc(() => fanout.counts());

server.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: LISTEN_BACKLOG }, () => {
  announceReady((server.address() as AddressInfo).port);
});
