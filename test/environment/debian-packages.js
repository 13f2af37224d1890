/**
 * The first step of `npm test` (pretest): the programs the tests run, from Debian's packages. What is missing is
 * installed with apt-get where we may (as root, on Debian); anywhere else the run stops here, before anything is built
 * or tested, with one line for each missing program saying how to get it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DEFAULT_DATABASE_URL, postgresAnswers } from './private-postgres.js';
import { CHROMIUM, isExecutable, onPath, postgresProgram } from './programs.js';

const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;

/** What the tests need, the package that has it, why, and whether it is here (or not needed after all). */
const NEEDS = [
  {
    what: `Chromium at ${CHROMIUM}`,
    pkg: 'chromium',
    why: 'the browser tests drive it',
    here: async () => isExecutable(CHROMIUM),
  },
  {
    what: 'redis-server',
    pkg: 'redis-server',
    why: 'suites start Redis servers of their own',
    here: async () => onPath('redis-server') !== undefined,
  },
  {
    what: `PostgreSQL's initdb and pg_ctl, as none answers at ${databaseUrl}`,
    pkg: 'postgresql',
    why: 'the tests start a PostgreSQL of their own',
    orElse: 'or set DATABASE_URL to one that does',
    // Only wanted where no PostgreSQL answers (CI and most developers have one).
    here: async () => (postgresProgram('initdb') && postgresProgram('pg_ctl')) !== undefined || postgresAnswers(databaseUrl),
  },
];

async function missingNeeds() {
  const missing = [];
  for (const need of NEEDS) if (!(await need.here())) missing.push(need);
  return missing;
}

function mayInstall() {
  return process.getuid() === 0 && onPath('apt-get') !== undefined && existsSync('/etc/debian_version');
}

/** apt-get, quiet: its output is kept, and only the last line of its complaint is shown if it fails. */
function aptGet(args) {
  execFileSync('apt-get', ['-qq', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

let missing = await missingNeeds();
if (missing.length > 0 && mayInstall()) {
  const packages = missing.map((need) => need.pkg);
  const reasons = missing.map((need) => `${need.pkg}: ${need.why}`).join('; ');
  console.log(`npm test: installing ${packages.join(', ')} from Debian with apt-get (${reasons}); this can take a minute.`);
  try {
    aptGet(['update']);
    aptGet(['install', '-y', ...packages]);
  } catch (error) {
    const complaint = String(error.stderr ?? '').trim().split('\n').pop() || error.message;
    console.error(`npm test: apt-get could not install them: ${complaint}`);
  }
  missing = await missingNeeds();
}
for (const need of missing) {
  console.error(`npm test needs ${need.what}: apt-get install ${need.pkg} (as root)${need.orElse ? `, ${need.orElse}` : ''}`);
}
process.exitCode = missing.length > 0 ? 1 : 0;
