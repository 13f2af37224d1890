/**
 * The servers the suites share, once per Jest run (globalSetup and globalTeardown at the top of jest.config.js cover
 * all three projects): the Redis at REDIS_URL and the PostgreSQL at DATABASE_URL where they answer, or else private
 * ones on free loopback ports. Either way the URLs are set in process.env here, before Jest starts its test workers,
 * which inherit them (test/services.e2e.spec.ts checks that they answer there).
 */
import { createServer } from 'node:net';
import { DEFAULT_DATABASE_URL, PrivatePostgres, postgresAnswers } from './private-postgres.js';
import { DEFAULT_REDIS_URL, PrivateRedis, redisAnswers } from './private-redis.js';

const SERVICES = [
  { name: 'Redis', variable: 'REDIS_URL', fallback: DEFAULT_REDIS_URL, answers: redisAnswers, Private: PrivateRedis },
  {
    name: 'PostgreSQL',
    variable: 'DATABASE_URL',
    fallback: DEFAULT_DATABASE_URL,
    answers: postgresAnswers,
    Private: PrivatePostgres,
  },
];

/** Exit codes as a shell reports a death by that signal. */
const SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/** The private servers of this run. */
const started = [];

export async function startServices() {
  // Stopped whatever happens: at teardown, on Ctrl-C or kill, or as Jest exits without a teardown (it skips it when
  // globalSetup fails or the run crashes).
  process.on('exit', stopServices);
  for (const signal of Object.keys(SIGNALS)) process.on(signal, exitOnSignal);
  try {
    for (const service of SERVICES) await provide(service);
  } catch (error) {
    stopServices();
    throw error;
  }
}

export function stopServices() {
  for (const server of started.splice(0)) server.stop();
  process.off('exit', stopServices);
  for (const signal of Object.keys(SIGNALS)) process.off(signal, exitOnSignal);
}

async function provide({ name, variable, fallback, answers, Private }) {
  const url = process.env[variable] || fallback;
  if (await answers(url)) {
    process.env[variable] = url;
    return;
  }
  const server = new Private(await freePort());
  started.push(server);
  try {
    await server.start();
  } catch (error) {
    const failure = new Error(`npm test needs ${name}: none answers at ${url} (${variable}), and a private one did not start: ${error.message}`);
    failure.stack = failure.message; // where in this file it was thrown would tell the reader nothing
    throw failure;
  }
  process.env[variable] = server.url;
  console.log(`${name}: none answers at ${url}; the tests use a private one at ${server.url}, stopped when they end.`);
}

/** Cleans up (synchronously: nothing else runs before the exit), then ends the run as that signal would have. */
function exitOnSignal(signal) {
  stopServices();
  process.exit(SIGNALS[signal]);
}

/** A loopback port nothing listens on (the OS's pick, released at once) for a private server. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
