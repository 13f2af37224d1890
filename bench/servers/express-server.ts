// Express alone: the raw server's fan-out (see fanout.ts) routed by Express 5,
// with no Nest and no module. What Express itself costs per open stream.
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LISTEN_BACKLOG } from '../lib/listen.js';
import { Fanout } from './fanout.js';
import { announceReady, serveServerIpc } from './server-ipc.js';

const secret = process.env.JWT_SECRET;
if (!secret) throw new Error('JWT_SECRET is required');
const fanout = new Fanout(secret);

const app = express();
app.get('/sse', fanout.stream);
app.post('/publish', fanout.publish);
app.get('/stats', fanout.stats);

serveServerIpc(() => fanout.counts());

const server = createServer(app);
server.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: LISTEN_BACKLOG }, () => {
  announceReady((server.address() as AddressInfo).port);
});
