/**
 * Where the programs the tests run are found on this machine. Plain JavaScript (as is all of
 * test/environment/): `npm test` runs it before anything is compiled.
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian's Chromium, which the browser suite launches (test/browser.e2e.spec.ts): never a downloaded build. */
export const CHROMIUM = '/usr/bin/chromium';

export function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of `name` on PATH, or undefined. */
export function onPath(name) {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .find(isExecutable);
}

/**
 * The full path of a PostgreSQL server program (`initdb`, `pg_ctl`), or undefined. Debian keeps them off PATH, in
 * /usr/lib/postgresql/<major>/bin (the newest major wins); other systems put them on PATH.
 */
export function postgresProgram(name) {
  const root = '/usr/lib/postgresql';
  let majors = [];
  try {
    majors = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    // Not Debian's layout.
  }
  return majors.map((major) => join(root, major, 'bin', name)).find(isExecutable) ?? onPath(name);
}
