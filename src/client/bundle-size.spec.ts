import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { bundleClient } from '../demo/client-bundle.js';

/** The most the browser bundle may weigh, minified and gzipped. */
const MAX_GZIPPED_BYTES = 6 * 1024;
/**
 * The most the inbox add-on may add to an app that has the client (the client with it, less the client alone):
 * a quarter of the client's budget, for a feature an app imports on purpose.
 */
const MAX_INBOX_GZIPPED_BYTES = 1536;
const CLIENT_DIR = fileURLToPath(new URL('.', import.meta.url));
const SRC_DIR = fileURLToPath(new URL('..', import.meta.url));

const gzipped = (code: string) => gzipSync(code).length;

describe("the client's browser bundle", () => {
  it(`is at most ${MAX_GZIPPED_BYTES} bytes, minified by esbuild and gzipped`, async () => {
    const { code } = await bundleClient(true);
    // Printed for the record: what the budget has left.
    console.log(`client bundle: ${code.length} bytes minified, ${gzipped(code)} gzipped (budget ${MAX_GZIPPED_BYTES})`);
    expect(gzipped(code)).toBeLessThanOrEqual(MAX_GZIPPED_BYTES);
  }, 30_000);

  it(`with the inbox add-on (client/inbox) is at most ${MAX_INBOX_GZIPPED_BYTES} bytes more`, async () => {
    const [core, combined, alone] = await Promise.all([
      bundleClient(true),
      bundleClient(true, ['client', 'client/inbox']),
      bundleClient(true, ['client/inbox']),
    ]);
    const added = gzipped(combined.code) - gzipped(core.code);
    console.log(
      `client with the inbox add-on: ${gzipped(combined.code)} gzipped, ${added} more than the client ` +
        `(budget ${MAX_INBOX_GZIPPED_BYTES}); the add-on bundled alone: ${gzipped(alone.code)} gzipped`,
    );
    expect(added).toBeLessThanOrEqual(MAX_INBOX_GZIPPED_BYTES);
    // What the add-on needs of the client is shared, not carried twice: the two together weigh less than each alone.
    expect(gzipped(combined.code)).toBeLessThan(gzipped(core.code) + gzipped(alone.code));
  }, 30_000);

  it('holds the client, the reserved names and eventsource-parser, and nothing of the server; the inbox only when asked for', async () => {
    const { code, inputs } = await bundleClient(false);
    const places = new Set(inputs.map((input) => input.replace(/^(node_modules\/[^/]+|src\/[^/]+)\/.*$/, '$1')));
    expect([...places].sort()).toEqual(['node_modules/eventsource-parser', 'src/client', 'src/protocol']);
    expect(inputs.filter((input) => input.startsWith('src/protocol/'))).toEqual(['src/protocol/reserved-events.ts']);
    expect(inputs.filter((input) => input.startsWith('src/client/inbox/'))).toEqual([]);
    expect(code).not.toMatch(/from\s*["'](node:|@nestjs|rxjs)/);

    const withInbox = await bundleClient(false, ['client', 'client/inbox']);
    expect(withInbox.inputs.filter((input) => input.startsWith('src/client/inbox/')).sort()).toEqual([
      'src/client/inbox/inbox-client.ts',
      'src/client/inbox/inbox-list.ts',
      'src/client/inbox/index.ts',
    ]);
    expect(withInbox.inputs.filter((input) => !input.startsWith('src/client/') && !input.startsWith('node_modules/eventsource-parser/'))).toEqual([
      'src/protocol/reserved-events.ts',
    ]);
  }, 30_000);

  it('imports from the server types only, and at run time only the client, the reserved names and eventsource-parser', () => {
    const sources = readdirSync(CLIENT_DIR, { recursive: true, encoding: 'utf8' }).filter(
      (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'),
    );
    expect(sources.filter((file) => file.startsWith('inbox/')).length).toBeGreaterThan(1);
    for (const file of sources) {
      const text = readFileSync(join(CLIENT_DIR, file), 'utf8');
      const imports = [...text.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)].map(([, typeOnly, from]) => ({
        typeOnly: Boolean(typeOnly),
        from,
        // Where it points, from src/.
        target: from.startsWith('.') ? relative(SRC_DIR, join(CLIENT_DIR, dirname(file), from)) : from,
      }));
      for (const { typeOnly, from, target } of imports) {
        const allowed =
          target.startsWith('client/') ||
          target === 'protocol/reserved-events.js' ||
          target === 'eventsource-parser' ||
          (typeOnly && target.startsWith('sse/'));
        expect({ file, from, allowed }).toEqual({ file, from, allowed: true });
      }
    }
  });
});
