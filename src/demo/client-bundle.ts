import { fileURLToPath } from 'node:url';

// The client's sources (this file runs from src/ in tests and from dist/ otherwise; both reach them).
const CLIENT_DIR = fileURLToPath(new URL('../../src/client/', import.meta.url));

/** The client's package entries, by their export (`nest-sse-notifications/<entry>`), and their sources. */
const ENTRIES = {
  client: './index.ts',
  'client/inbox': './inbox/index.ts',
} as const;

export type ClientEntry = keyof typeof ENTRIES;

/**
 * The browser build of the client's entries (`nest-sse-notifications/client`,
 * and its inbox add-on): one ES module that exports what they export, with
 * eventsource-parser inside, built by esbuild from the sources, so that
 * `npm start` serves it with no build step of its own. Minified, it is what
 * the bundle-size test measures: the client alone, and with the add-on.
 */
export async function bundleClient(minify: boolean, entries: readonly ClientEntry[] = ['client']): Promise<{ code: string; inputs: string[] }> {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: {
      contents: entries.map((entry) => `export * from ${JSON.stringify(ENTRIES[entry])};`).join('\n'),
      resolveDir: CLIENT_DIR,
      sourcefile: 'client-entries.ts',
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Fields set in constructors rather than declared on the class: fewer bytes, and the client's classes do not
    // depend on which (no field initializer reads a constructor parameter, and nothing subclasses them).
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
  });
  const inputs = Object.keys(result.metafile.inputs).filter((input) => input !== 'client-entries.ts');
  return { code: result.outputFiles[0].text, inputs };
}
