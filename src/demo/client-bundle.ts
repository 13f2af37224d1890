import { fileURLToPath } from 'node:url';

// The client's entry, from src/ (this file runs from src/ in tests and from dist/ otherwise; both reach it).
const CLIENT_ENTRY = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));

/**
 * The browser build of the client (`nest-sse-notifications/client`): one ES
 * module, with eventsource-parser inside, built by esbuild from the sources,
 * so that `npm start` serves it with no build step of its own. Minified, it is
 * what the bundle-size test measures.
 */
export async function bundleClient(minify: boolean): Promise<{ code: string; inputs: string[] }> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
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
  return { code: result.outputFiles[0].text, inputs: Object.keys(result.metafile.inputs) };
}
