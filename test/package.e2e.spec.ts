import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { signToken } from './harness/tokens.js';

/**
 * The package as a user gets it: `npm pack` of this repository, installed by
 * `npm install <tarball>` into a fresh ESM Nest app outside the repository,
 * which is written in TypeScript, compiled with this repository's tsc against
 * the package's declarations and exports map, run with node, and streamed
 * from. `npm test` builds dist/ first (`pretest`); while developing, run
 * `npm run build`. The pack skips `prepack` (a build) so that dist/ is not
 * rewritten under the suites that run `node dist/main.js` at the same time.
 */

const ROOT = realpathSync(fileURLToPath(new URL('..', import.meta.url)));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
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

/** The consumer app: the README's example, trimmed to a stream and a publish, imported by the package's name. */
const APP_SOURCE = `import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post, type MessageEvent } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import {
  Authenticated,
  CurrentPrincipal,
  NotificationService,
  type Principal,
  SseModule,
  SseRoute,
} from 'nest-sse-notifications';
import type { SseHealthIndicator } from 'nest-sse-notifications/terminus';

const secret = process.env.JWT_SECRET!;

@Controller()
class EventsController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute('events')
  events(@CurrentPrincipal() principal: Principal): Observable<MessageEvent> {
    return this.notifications.stream(principal);
  }

  @Post('publish')
  @HttpCode(202)
  @Authenticated()
  async publish(@Body() body: { userId: string; type: string; data: unknown }): Promise<{ id: string }> {
    return { id: await this.notifications.publishToUser(body.userId, body.type, body.data) };
  }
}

@Module({
  imports: [SseModule.forRoot({ auth: { jwt: { secret } } })],
  controllers: [EventsController],
})
class AppModule {}

// The declarations are really read (were they \`any\`, these directives would be unused, which tsc reports).
export function misuse(): void {
  // @ts-expect-error maxConnectionsPerUser is a number
  SseModule.forRoot({ auth: { jwt: { secret } }, maxConnectionsPerUser: 'five' });
}
// @ts-expect-error SseHealthIndicator, from the terminus entry, has no such member
export type NoSuchMember = SseHealthIndicator['noSuchMember'];
export type HealthCheck = SseHealthIndicator['isHealthy'];

function resolved(specifier: string): string {
  try {
    return import.meta.resolve(specifier);
  } catch (err) {
    return String((err as { code?: string }).code ?? err);
  }
}

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
`;

/** Only the main entry, for a check of its declarations with nothing skipped. */
const ENTRY_ONLY_SOURCE = `import { SseModule, type SseModuleOptions } from 'nest-sse-notifications';

export const options: SseModuleOptions = { auth: { jwt: { secret: 'x' } } };
export const module = SseModule.forRoot(options);
`;

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

describe('the npm package', () => {
  let work: string;
  let appDir: string;
  let tarball: string | undefined;
  let installed = false;
  let compiled = false;
  let child: ChildProcess | undefined;
  let childExited: Promise<void> | undefined;
  let childOutput = '';
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
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exitedInTime = await Promise.race([
        childExited!.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000))),
      ]);
      clearTimeout(timer);
      if (!exitedInTime) {
        child.kill('SIGKILL');
        await childExited;
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

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
      (file) => !['package.json', 'README.md', 'LICENSE'].includes(file) && !/^dist\/(sse|protocol)\/.+\.(js|d\.ts)$/.test(file),
    );
    expect(unexpected).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
    expect(files.filter((file) => /\.spec\.|\.map$|^dist\/(demo|main)/.test(file) || file.startsWith('src/'))).toEqual([]);

    // Every library source is there, compiled and declared; nothing else (no stale output of a removed source).
    const librarySources = ['sse', 'protocol'].flatMap((folder) =>
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
    const peers = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'rxjs', 'reflect-metadata'];
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
    expect(readdirSync(join(here, 'dist')).sort()).toEqual(['protocol', 'sse']);
    for (const dependency of ['ioredis', 'fast-jwt', 'cookie']) {
      const found = [here, appDir].some((dir) => existsSync(join(dir, 'node_modules', dependency, 'package.json')));
      expect({ dependency, found }).toEqual({ dependency, found: true });
    }
    expect(existsSync(join(appDir, 'node_modules', 'prom-client'))).toBe(false);
    expect(existsSync(join(appDir, 'node_modules', '@nestjs', 'terminus'))).toBe(false);
    installed = true;
  }, 120_000);

  test("a strict NodeNext TypeScript app compiles against the package's declarations and exports map", async () => {
    if (!installed) throw new Error('not installed: the install test failed');
    writeFileSync(join(appDir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(appDir, 'src', 'main.ts'), APP_SOURCE);
    const tsc = await run(TSC, ['-p', 'tsconfig.json'], appDir, 90_000);
    expectSuccess(tsc, 'tsc');
    expect(existsSync(join(appDir, 'dist', 'main.js'))).toBe(true);
    compiled = true;
  }, 100_000);

  test('the compiled app, run with node, streams an event end to end', async () => {
    if (!compiled) throw new Error('not compiled: the compile test failed');
    const proc = spawn(process.execPath, ['dist/main.js'], {
      cwd: appDir,
      env: childEnv({ JWT_SECRET: SECRET }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    childExited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (childOutput += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (childOutput += chunk));
    const ready = await new Promise<{ port: number; terminus: string; internal: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no READY line within ${STARTUP_MS} ms:\n${childOutput}`)), STARTUP_MS);
      const check = () => {
        const match = /^READY (.*)$/m.exec(childOutput);
        if (!match) return;
        clearTimeout(timer);
        resolve(JSON.parse(match[1]));
      };
      proc.stdout!.on('data', check);
      void childExited!.then(() => {
        clearTimeout(timer);
        reject(new Error(`the app exited before listening:\n${childOutput}`));
      });
    });

    // The terminus entry is in the exports map; the files behind it are not reachable by their paths.
    expect(fileURLToPath(ready.terminus)).toBe(join(appDir, 'node_modules', PACKAGE.name, 'dist', 'sse', 'terminus.js'));
    expect(ready.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');

    const url = `http://127.0.0.1:${ready.port}`;
    const token = await signToken('alice', { secret: SECRET });

    const anonymous = await fetch(`${url}/events`, { signal: AbortSignal.timeout(5000) });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="sse"');
    await anonymous.body?.cancel();

    const received: Array<{ type: string; id: string; data: string }> = [];
    let failure: string | undefined;
    const source = new EventSource(`${url}/events`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
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

    const published = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: 'alice', type: 'todo', data: { title: 'Call Bob' } }),
      signal: AbortSignal.timeout(5000),
    });
    expect(published.status).toBe(202);
    const { id } = (await published.json()) as { id: string };
    expect(id).toMatch(/^\d+-\d+$/);

    await until(() => received.some((event) => event.type === 'todo'), 'the todo event');
    expect(received.filter((event) => event.type === 'todo')).toEqual([{ type: 'todo', id, data: '{"title":"Call Bob"}' }]);
    source.close();
    expect(childOutput).not.toMatch(/ERROR|WARN/);
  });

  test("the main entry's declarations need none of the optional peers (prom-client, @nestjs/terminus), with no lib check skipped", async () => {
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
