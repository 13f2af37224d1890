/**
 * A PostgreSQL of the test run's own, for when none answers at DATABASE_URL: a cluster made by initdb in a temp
 * directory and started by pg_ctl on a free loopback port, with trust auth, a `postgres` role and a `test` database.
 * Stopping it removes the directory.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { postgresProgram } from './programs.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Whether a PostgreSQL at `url` lets us in and answers `select 1` (one try: a machine without one gets a quick no). */
export async function postgresAnswers(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Who runs the cluster: we do, unless we are root, which initdb refuses. Then it is the `postgres` system user that
 * Debian's package creates (the programs are started with its uid and gid).
 */
function clusterOwner() {
  if (process.getuid() !== 0) return {};
  try {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error(
      "initdb refuses to run as root, and there is no 'postgres' system user to run it as: apt-get install postgresql creates one",
    );
  }
}

export class PrivatePostgres {
  /** @param {number} port */
  constructor(port) {
    this.port = port;
    this.url = `postgres://postgres@127.0.0.1:${port}/test`;
    this.dir = undefined;
  }

  async start() {
    const initdb = postgresProgram('initdb');
    this.pgCtl = postgresProgram('pg_ctl');
    if (!initdb || !this.pgCtl) throw new Error('initdb and pg_ctl are not installed: apt-get install postgresql (as root)');
    this.owner = clusterOwner();
    // Set before anything is made in it, so that stop() removes it whatever fails next.
    this.dir = mkdtempSync(join(tmpdir(), 'nest-sse-test-postgres-'));
    if (this.owner.uid !== undefined) chownSync(this.dir, this.owner.uid, this.owner.gid);
    const data = join(this.dir, 'data');
    await this.run(initdb, ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // Loopback only; the socket in our directory, not in /var/run/postgresql; no fsync, as the data is thrown away.
    const settings = [`port = ${this.port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${this.dir}'`, 'fsync = off'];
    appendFileSync(join(data, 'postgresql.conf'), `\n${settings.join('\n')}\n`);
    const log = join(this.dir, 'server.log');
    await this.run(this.pgCtl, ['start', '-w', '-D', data, '-l', log]).catch((error) => {
      throw new Error(`${error.message}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    });
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${this.port}/postgres` });
    await admin.connect();
    try {
      await admin.query('create database test');
    } finally {
      await admin.end();
    }
  }

  /** Synchronous, so that it can also run as the process exits: a fast shutdown (sessions ended), then the directory. */
  stop() {
    if (!this.dir) return;
    const data = join(this.dir, 'data');
    if (existsSync(join(data, 'postmaster.pid'))) {
      spawnSync(this.pgCtl, ['stop', '-w', '-m', 'fast', '-D', data], { ...this.options(), stdio: 'ignore' });
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  async run(program, args) {
    try {
      await promisify(execFile)(program, args, this.options());
    } catch (error) {
      throw new Error(`${basename(program)} failed: ${error.stderr || error.message}`);
    }
  }

  /** In a directory the owner may enter, as the owner, without our PG* variables (PGDATA, PGPORT) in the way. */
  options() {
    return { cwd: this.dir, env: { PATH: process.env.PATH ?? '' }, ...this.owner };
  }
}
