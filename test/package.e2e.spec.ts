import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { startDemoServer } from './harness/demo-server.js';
import { signToken } from './harness/tokens.js';

/**
 * The package as a user gets it: `npm pack` of this repository, installed by
 * `npm install <tarball>` into a fresh Nest app outside the repository. The
 * app is the README's "Use it in your app" and "Typed events" code as it is
 * printed, with an entry of its own; it is compiled with this repository's tsc
 * against the package's declarations and exports map, once as ES modules and
 * once as CommonJS (as `nest new` makes apps, which load the ESM-only package
 * with Node's `require()` of ES modules), and each build is run with node and
 * streamed from. Two Node scripts of the app use the packed client and its
 * inbox add-on by their exports. `npm test` builds dist/ first (`pretest`); while developing,
 * run `npm run build`. The pack skips `prepack` (a build) so that dist/ is not
 * rewritten under the suites that run `node dist/main.js` at the same time.
 */

const ROOT = realpathSync(fileURLToPath(new URL('..', import.meta.url)));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  type: string;
  engines: { node: string };
  exports: Record<string, string | Record<string, string>>;
};
const SECRET = `package-test-${process.pid}-${Date.now()}-secret`;
const STARTUP_MS = 15_000;

/** The version of a package installed in this repository: the consumer app gets the same. */
function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The environment of a child: no Jest VM flags, and none of the settings an
 * enclosing `npm test` exports that would point npm back at this repository.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const name of Object.keys(env)) {
    if (
      name === 'NODE_OPTIONS' ||
      /^npm_(package_|lifecycle_|command$|execpath$|node_execpath$|config_(local_prefix|prefix|global_prefix|call)$)/i.test(name)
    ) {
      delete env[name];
    }
  }
  return env;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded), resolving with its exit code and output rather than rejecting. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: `${String(stderr)}${error && code === -1 ? `\n${error.message}` : ''}` });
      },
    );
  });
}

function expectSuccess(result: Run, what: string): void {
  if (result.code !== 0) {
    throw new Error(`${what} exited with ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  }
}

/** The first TypeScript block after a heading of the README, as a user would paste it. */
function readmeSnippet(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`the README has no "${heading}"`);
  const start = readme.indexOf('```ts\n', at) + '```ts\n'.length;
  return readme.slice(start, readme.indexOf('\n```', start) + 1);
}

/** The entry's checks of the declarations (were they `any`, these directives would be unused, which tsc reports). */
const DECLARATION_CHECKS = `import type { SseHealthIndicator } from 'nest-sse-notifications/terminus';
import { SseModule } from 'nest-sse-notifications';

export function misuse(): void {
  // @ts-expect-error maxConnectionsPerUser is a number
  SseModule.forRoot({ auth: { jwt: { secret: 'x' } }, maxConnectionsPerUser: 'five' });
}
// @ts-expect-error SseHealthIndicator, from the terminus entry, has no such member
export type NoSuchMember = SseHealthIndicator['noSuchMember'];
export type HealthCheck = SseHealthIndicator['isHealthy'];
`;

/**
 * The app's entry, as ES modules or as CommonJS (as \`nest new\` writes one, starting from a function): it
 * boots the README's module and tells how the exports map resolves, for \`import\` or for \`require\`.
 */
function entrySource(kind: 'esm' | 'cjs'): string {
  const esm = kind === 'esm';
  const local = (file: string) => (esm ? `./${file}.js` : `./${file}`);
  return `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { AppModule } from '${local('app.module')}';
import { BadgeService } from '${local('typed-events')}';
${DECLARATION_CHECKS}
function resolved(specifier: string): string {
  try {
    return ${esm ? 'import.meta.resolve' : 'require.resolve'}(specifier);
  } catch (err) {
    return String((err as { code?: string }).code ?? err);
  }
}

export const typed: BadgeService | undefined = undefined;
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  console.log(
    'READY ' +
      JSON.stringify({
        port,
        terminus: resolved('nest-sse-notifications/terminus'),
        internal: resolved('nest-sse-notifications/dist/sse/notification.service.js'),
      }),
  );
}
${esm ? 'await bootstrap();' : 'void bootstrap();'}
`;
}

/** Only the main entry, for a check of its declarations with nothing skipped. */
/**
 * A Node script of the fresh app that uses the packed client, by its export
 * `nest-sse-notifications/client`, typed by the app's event map: it prints
 * OPEN once its stream is open, EVENT and the first todo it gets, then stops.
 */
const CLIENT_SOURCE = `import { SseClient, type ClientState } from 'nest-sse-notifications/client';

interface AppEvents {
  todo: { title: string };
}

const client = new SseClient<AppEvents>({ url: process.env.APP_URL + '/events', getToken: () => process.env.TOKEN });
// The declarations are really read: a handler of the wrong data is refused.
// @ts-expect-error a todo's title is a string
client.on('todo', (todo: { title: number }) => todo.title);
client.onState((state: ClientState) => {
  if (state.status === 'open') console.log('OPEN');
  if (state.status === 'closed' && state.reason !== 'stopped') console.log('CLOSED ' + JSON.stringify(state));
});
client.on('todo', (todo, meta) => {
  console.log('EVENT ' + JSON.stringify({ title: todo.title.toUpperCase(), id: meta.id }));
  client.close();
});
client.connect();
setTimeout(() => process.exit(1), 10_000).unref();
`;

/**
 * A Node script of the fresh app that uses the packed inbox add-on, by its export
 * `nest-sse-notifications/client/inbox`, with the packed client's stream: it prints
 * each state of the inbox (its count and the titles listed), and stops once
 * everything listed has been read.
 */
const INBOX_SOURCE = `import { SseClient } from 'nest-sse-notifications/client';
import { InboxClient, type InboxState } from 'nest-sse-notifications/client/inbox';

interface AppEvents {
  todo: { title: string };
}

const getToken = () => process.env.TOKEN;
const client = new SseClient<AppEvents>({ url: process.env.APP_URL + '/sse', getToken });
const inbox = new InboxClient<AppEvents>({ url: process.env.APP_URL + '/inbox', getToken });
// The declarations are really read: the items are the app's events.
// @ts-expect-error a todo's title is a string
inbox.state.items.map((item) => item.data.title.toFixed());
inbox.follow(client);
inbox.onState((state: InboxState<AppEvents>) => {
  const titles = state.items.map((item) => item.data.title.toUpperCase());
  console.log('STATE ' + JSON.stringify({ unread: state.unread, titles, error: state.error?.message }));
  if (state.unread === 0 && titles.length > 0) {
    inbox.close();
    client.close();
  }
});
client.onState((state) => state.status === 'open' && console.log('OPEN'));
void inbox.show();
client.connect();
setTimeout(() => process.exit(1), 10_000).unref();
`;

/** The main entry and the client's, for a check of their declarations with nothing skipped (Node's types, no DOM). */
const ENTRY_ONLY_SOURCE = `import { SseModule, type SseModuleOptions } from 'nest-sse-notifications';
import { postStream, SseClient } from 'nest-sse-notifications/client';
import { InboxClient } from 'nest-sse-notifications/client/inbox';

export const options: SseModuleOptions = { auth: { jwt: { secret: 'x' } } };
export const module = SseModule.forRoot(options);
export const client = new SseClient<{ todo: { title: string } }>({ url: 'http://localhost/sse' });
export const answer = postStream('http://localhost/chat', { message: 'hi' });
export const inbox = new InboxClient<{ todo: { title: string } }>({ url: 'http://localhost/inbox' }).follow(client);
`;

/** A CommonJS app's compiler options, as `nest new` writes them (with strict null checks, and no `any` left implicit). */
const CJS_TSCONFIG = {
  compilerOptions: {
    module: 'commonjs',
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2023',
    sourceMap: true,
    outDir: './dist',
    rootDir: './src',
    skipLibCheck: true,
    strictNullChecks: true,
    noImplicitAny: true,
    forceConsistentCasingInFileNames: true,
    types: ['node'],
  },
  include: ['src'],
};

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    strict: true,
    // As `nest new` generates; the check with nothing skipped is a test of its own below.
    skipLibCheck: true,
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

/** A built consumer app run with node: its READY line, and its output so far. */
interface RunningConsumer {
  ready: { port: number; terminus: string; internal: string };
  output(): string;
}

describe('the npm package', () => {
  let work: string;
  let appDir: string;
  let tarball: string | undefined;
  let installed = false;
  let compiled = false;
  let appUrl: string | undefined;
  const children: Array<{ proc: ChildProcess; exited: Promise<void> }> = [];
  const sources: EventSource[] = [];

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'sse', 'index.js'))) {
      throw new Error('dist/ is not built: run `npm run build` (npm test does it in pretest)');
    }
    work = realpathSync(mkdtempSync(join(tmpdir(), 'nest-sse-package-')));
    appDir = join(work, 'app');
    mkdirSync(join(appDir, 'src'), { recursive: true });
  });

  afterAll(async () => {
    sources.forEach((source) => source.close());
    for (const { proc, exited } of children) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exitedInTime = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000))),
      ]);
      clearTimeout(timer);
      if (!exitedInTime) {
        proc.kill('SIGKILL');
        await exited;
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Writes the README's code and an entry into `dir/src`, with its tsconfig, and compiles it. */
  async function build(dir: string, tsconfig: object, main: string): Promise<void> {
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    writeFileSync(join(dir, 'src', 'app.module.ts'), readmeSnippet('## Use it in your app'));
    writeFileSync(join(dir, 'src', 'typed-events.ts'), readmeSnippet('### Typed events'));
    writeFileSync(join(dir, 'src', 'main.ts'), main);
    const tsc = await run(TSC, ['-p', 'tsconfig.json'], dir, 90_000);
    expectSuccess(tsc, 'tsc');
    expect(existsSync(join(dir, 'dist', 'main.js'))).toBe(true);
  }

  /** Runs `dist/main.js` of a built app until it prints its READY line. */
  async function start(dir: string): Promise<RunningConsumer> {
    const proc = spawn(process.execPath, ['dist/main.js'], { cwd: dir, env: childEnv({ JWT_SECRET: SECRET }), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    children.push({ proc, exited });
    let text = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const ready = await new Promise<RunningConsumer['ready']>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no READY line within ${STARTUP_MS} ms:\n${text}`)), STARTUP_MS);
      const check = () => {
        const match = /^READY (.*)$/m.exec(text);
        if (!match) return;
        clearTimeout(timer);
        resolve(JSON.parse(match[1]) as RunningConsumer['ready']);
      };
      proc.stdout!.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the app exited before listening:\n${text}`));
      });
    });
    return { ready, output: () => text };
  }

  /** The README's routes, end to end: a 401 without a token, a stream that gets what the admin publishes, a 400 for a bad body. */
  async function expectStreamsEndToEnd(url: string): Promise<void> {
    const alice = await signToken('alice', { secret: SECRET });
    const admin = await signToken('root', { secret: SECRET, roles: ['admin'] });

    const anonymous = await fetch(`${url}/events`, { signal: AbortSignal.timeout(5000) });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="sse"');
    await anonymous.body?.cancel();

    const received: Array<{ type: string; id: string; data: string }> = [];
    let failure: string | undefined;
    const source = new EventSource(`${url}/events`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${alice}` } }),
    });
    sources.push(source);
    for (const type of ['sse.ready', 'todo']) {
      source.addEventListener(type, (event) => received.push({ type, id: event.lastEventId, data: event.data }));
    }
    source.addEventListener('error', (event) => (failure = `${event.code ?? ''} ${event.message ?? ''}`));
    const until = async (condition: () => boolean, what: string) => {
      const deadline = Date.now() + 5000;
      while (!condition()) {
        if (failure !== undefined) throw new Error(`stream error while waiting for ${what}: ${failure}`);
        if (Date.now() > deadline) throw new Error(`no ${what} within 5 s; received ${JSON.stringify(received)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until(() => received.some((event) => event.type === 'sse.ready'), 'sse.ready');

    const post = (body: string | undefined) =>
      fetch(`${url}/todos`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5000),
      });
    const published = await post(JSON.stringify({ userId: 'alice', title: 'Call Bob' }));
    expect(published.status).toBe(202);
    const { id } = (await published.json()) as { id: string };
    expect(id).toMatch(/^\d+-\d+$/);
    await until(() => received.some((event) => event.type === 'todo'), 'the todo event');
    expect(received.filter((event) => event.type === 'todo')).toEqual([{ type: 'todo', id, data: '{"title":"Call Bob"}' }]);
    source.close();

    // The README's route refuses what is not a todo with a JSON 400, an empty body included: never a 500.
    for (const body of [undefined, '', '{}', '{"userId":"alice"}', '[]']) {
      const refused = await post(body);
      expect({ body, status: refused.status }).toEqual({ body, status: 400 });
      expect(((await refused.json()) as { statusCode: number }).statusCode).toBe(400);
    }
  }

  test('npm pack holds package.json, README.md, LICENSE and the library build only', async () => {
    const packDir = join(work, 'pack');
    mkdirSync(packDir);
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT, 60_000);
    expectSuccess(packed, 'npm pack');
    const [report] = JSON.parse(packed.stdout) as [{ filename: string; name: string; version: string }];
    expect(report).toMatchObject({ name: PACKAGE.name, version: PACKAGE.version });
    tarball = join(packDir, report.filename);
    expect(existsSync(tarball)).toBe(true);

    // What the tarball really holds (npm puts everything under package/).
    const listing = await run('tar', ['-tzf', tarball], packDir, 30_000);
    expectSuccess(listing, 'tar -tzf');
    const entries = listing.stdout.split('\n').filter(Boolean);
    expect(entries.every((entry) => entry.startsWith('package/'))).toBe(true);
    const files = entries.map((entry) => entry.slice('package/'.length)).filter((file) => file && !file.endsWith('/'));

    const unexpected = files.filter(
      (file) => !['package.json', 'README.md', 'LICENSE'].includes(file) && !/^dist\/(sse|protocol|client)\/.+\.(js|d\.ts)$/.test(file),
    );
    expect(unexpected).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
    expect(files.filter((file) => /\.spec\.|\.map$|^dist\/(demo|main)/.test(file) || file.startsWith('src/'))).toEqual([]);

    // Every library source is there, compiled and declared; nothing else (no stale output of a removed source).
    const librarySources = ['sse', 'protocol', 'client'].flatMap((folder) =>
      readdirSync(join(ROOT, 'src', folder), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
        .map((file) => `${folder}/${file.slice(0, -'.ts'.length)}`),
    );
    const expected = librarySources.flatMap((name) => [`dist/${name}.js`, `dist/${name}.d.ts`]).sort();
    expect(files.filter((file) => file.startsWith('dist/')).sort()).toEqual(expected);

    // Every target of the exports map is in the tarball.
    const targets = Object.values(PACKAGE.exports).flatMap((target) =>
      typeof target === 'string' ? [target] : Object.values(target),
    );
    for (const target of targets) expect(files).toContain(target.replace(/^\.\//, ''));
  }, 60_000);

  test('npm install <tarball> puts it, under its name, into a fresh app outside the repository', async () => {
    if (!tarball) throw new Error('no tarball: the pack test failed');
    expect(relative(ROOT, appDir).startsWith('..')).toBe(true);
    expect(appDir.startsWith(`${ROOT}${sep}`)).toBe(false);
    // As the README says to install: the package, an HTTP platform and zod, besides Nest's own peers.
    const peers = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'rxjs', 'reflect-metadata', 'zod'];
    writeFileSync(
      join(appDir, 'package.json'),
      JSON.stringify(
        {
          name: 'sse-consumer-app',
          private: true,
          type: 'module',
          dependencies: Object.fromEntries(peers.map((name) => [name, installedVersion(name)])),
          // TypeScript 6 reads no @types unless listed, and the app uses node's.
          devDependencies: { '@types/node': installedVersion('@types/node') },
        },
        null,
        2,
      ),
    );
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], appDir, 100_000);
    expectSuccess(install, 'npm install');

    const manifest = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(manifest.dependencies[PACKAGE.name]).toMatch(/^file:.*\.tgz$/);
    const here = join(appDir, 'node_modules', PACKAGE.name);
    const installedManifest = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')) as { name: string; version: string };
    expect(installedManifest).toMatchObject({ name: PACKAGE.name, version: PACKAGE.version });
    // A copy, not a link back into the repository; with its own dependencies, and without the optional peers.
    expect(realpathSync(here).startsWith(appDir)).toBe(true);
    // (npm nests a dependency whose version another package holds at the top, e.g. express's cookie.)
    expect(readdirSync(here).filter((file) => file !== 'node_modules').sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(join(here, 'dist')).sort()).toEqual(['client', 'protocol', 'sse']);
    for (const dependency of ['ioredis', 'fast-jwt', 'cookie', 'eventsource-parser']) {
      const found = [here, appDir].some((dir) => existsSync(join(dir, 'node_modules', dependency, 'package.json')));
      expect({ dependency, found }).toEqual({ dependency, found: true });
    }
    expect(existsSync(join(appDir, 'node_modules', 'prom-client'))).toBe(false);
    // The PostgreSQL inbox's driver is an optional peer too: the app below imports the main entry and runs without it.
    expect(existsSync(join(appDir, 'node_modules', 'pg'))).toBe(false);
    expect(existsSync(join(appDir, 'node_modules', '@nestjs', 'terminus'))).toBe(false);
    installed = true;
  }, 120_000);

  test("the README's code, in a strict NodeNext ES module app, compiles against the package's declarations and exports map", async () => {
    if (!installed) throw new Error('not installed: the install test failed');
    // With a script of the app's that uses the packed client, in Node.
    mkdirSync(join(appDir, 'src'), { recursive: true });
    writeFileSync(join(appDir, 'src', 'client.ts'), CLIENT_SOURCE);
    writeFileSync(join(appDir, 'src', 'inbox.ts'), INBOX_SOURCE);
    await build(appDir, TSCONFIG, entrySource('esm'));
    expect(existsSync(join(appDir, 'dist', 'client.js'))).toBe(true);
    expect(existsSync(join(appDir, 'dist', 'inbox.js'))).toBe(true);
    compiled = true;
  }, 100_000);

  test('the compiled ES module app, run with node, streams an event end to end', async () => {
    if (!compiled) throw new Error('not compiled: the compile test failed');
    const { ready, output } = await start(appDir);
    // The terminus entry is in the exports map; the files behind it are not reachable by their paths.
    expect(fileURLToPath(ready.terminus)).toBe(join(appDir, 'node_modules', PACKAGE.name, 'dist', 'sse', 'terminus.js'));
    expect(ready.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    await expectStreamsEndToEnd(`http://127.0.0.1:${ready.port}`);
    expect(output()).not.toMatch(/ERROR|WARN/);
    appUrl = `http://127.0.0.1:${ready.port}`;
  });

  test('the packed client, imported in Node by its export, streams a typed event from the app', async () => {
    if (!appUrl) throw new Error('no app: the streaming test failed');
    const token = await signToken('bob', { secret: SECRET });
    const admin = await signToken('root', { secret: SECRET, roles: ['admin'] });
    const proc = spawn(process.execPath, ['dist/client.js'], {
      cwd: appDir,
      env: childEnv({ APP_URL: appUrl, TOKEN: token }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 8000;
      while (!pattern.test(output)) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no ${pattern} from the client script:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await until(/^OPEN$/m);
      const published = await fetch(`${appUrl}/todos`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: 'bob', title: 'Call Alice' }),
        signal: AbortSignal.timeout(5000),
      });
      expect(published.status).toBe(202);
      const { id } = (await published.json()) as { id: string };
      await until(/^EVENT /m);
      expect(JSON.parse(/^EVENT (.*)$/m.exec(output)![1])).toEqual({ title: 'CALL ALICE', id });
      // Closed, it lets the process end.
      expect(await exited).toBe(0);
    } finally {
      proc.kill();
    }
  });

  test("the packed inbox add-on, imported in Node by its export, keeps the user's inbox live from the demo app", async () => {
    if (!compiled) throw new Error('not compiled: the compile test failed');
    // The README's app has no inbox routes: the demo app's (in this process) are the HTTP contract.
    const demo = await startDemoServer();
    const userId = `package-inbox-${process.pid}`;
    const token = await signToken(userId);
    const keep = (title: string) => demo.publishId({ userId, type: 'todo', data: { title }, inbox: true });
    const proc = spawn(process.execPath, ['dist/inbox.js'], {
      cwd: appDir,
      env: childEnv({ APP_URL: demo.url, TOKEN: token }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const states = () => [...output.matchAll(/^STATE (.*)$/gm)].map(([, state]) => JSON.parse(state) as { unread?: number; titles: string[] });
    const until = async (what: string, condition: () => boolean) => {
      const deadline = Date.now() + 8000;
      while (!condition()) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no ${what} from the inbox script:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await keep('Call Alice');
      await until('first page', () => states().some((state) => state.unread === 1 && state.titles.length === 1));
      await until('open stream', () => /^OPEN$/m.test(output));
      // Live: the stream's sse.inbox raises the count, and the list is fetched again with the new item on top.
      await keep('Water the plants');
      await until('the new item', () => states().some((state) => state.unread === 2 && state.titles.length === 2));
      expect(states().at(-1)).toEqual({ unread: 2, titles: ['WATER THE PLANTS', 'CALL ALICE'] });
      // Another device reads everything: the script hears it, and stops.
      const read = await fetch(`${demo.url}/inbox/read`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ all: true }),
      });
      expect(read.status).toBe(200);
      // Closed, the inbox and the client let the process end.
      expect(await exited).toBe(0);
      expect(states().at(-1)).toEqual({ unread: 0, titles: ['WATER THE PLANTS', 'CALL ALICE'] });
    } finally {
      proc.kill();
      await demo.close();
    }
  });

  test(`the same code as a CommonJS app (as nest new makes it) loads the ESM-only package with require() on Node ${process.versions.node}, and streams end to end`, async () => {
    if (!installed) throw new Error('not installed: the install test failed');
    // What engines promises is what require() of ES modules needs: 20.19 on Node 20, 22.12 after.
    expect(PACKAGE.type).toBe('module');
    expect(PACKAGE.engines.node).toBe('^20.19.0 || >=22.12.0');
    // A folder of the app with a package.json of its own, without "type": CommonJS, with the app's node_modules.
    const cjsDir = join(appDir, 'cjs');
    mkdirSync(cjsDir, { recursive: true });
    writeFileSync(join(cjsDir, 'package.json'), JSON.stringify({ name: 'sse-consumer-cjs', private: true }, null, 2));
    await build(cjsDir, CJS_TSCONFIG, entrySource('cjs'));
    const main = readFileSync(join(cjsDir, 'dist', 'main.js'), 'utf8');
    expect(readFileSync(join(cjsDir, 'dist', 'app.module.js'), 'utf8')).toContain('require("nest-sse-notifications")');
    expect(main).not.toMatch(/^import /m);

    const { ready, output } = await start(cjsDir);
    expect(ready.terminus).toBe(join(appDir, 'node_modules', PACKAGE.name, 'dist', 'sse', 'terminus.js'));
    expect(ready.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    await expectStreamsEndToEnd(`http://127.0.0.1:${ready.port}`);
    expect(output()).not.toMatch(/ERROR|WARN/);
  }, 100_000);

  test("the main entry's and the client's declarations need none of the optional peers (prom-client, @nestjs/terminus), with no lib check skipped", async () => {
    if (!installed) throw new Error('not installed: the install test failed');
    const checkDir = join(appDir, 'entry-check');
    mkdirSync(checkDir, { recursive: true });
    writeFileSync(join(checkDir, 'entry.ts'), ENTRY_ONLY_SOURCE);
    writeFileSync(
      join(checkDir, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: { ...TSCONFIG.compilerOptions, skipLibCheck: false, noEmit: true, rootDir: '.', outDir: undefined },
          files: ['entry.ts'],
        },
        null,
        2,
      ),
    );
    const tsc = await run(TSC, ['-p', join(checkDir, 'tsconfig.json')], dirname(checkDir), 90_000);
    // Only errors in the package's own files count here: the check is of its declarations.
    const packageErrors = tsc.stdout.split('\n').filter((line) => line.includes(`node_modules/${PACKAGE.name}/`));
    expect(packageErrors).toEqual([]);
    expectSuccess(tsc, 'tsc (skipLibCheck: false)');
  }, 100_000);
});
