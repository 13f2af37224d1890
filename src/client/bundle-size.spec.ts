import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { bundleClient } from '../demo/client-bundle.js';

/** The most the browser bundle may weigh, minified and gzipped. */
const MAX_GZIPPED_BYTES = 6 * 1024;
const CLIENT_DIR = fileURLToPath(new URL('.', import.meta.url));

describe("the client's browser bundle", () => {
  it(`is at most ${MAX_GZIPPED_BYTES} bytes, minified by esbuild and gzipped`, async () => {
    const { code } = await bundleClient(true);
    const gzipped = gzipSync(code).length;
    // Printed for the record: what the budget has left.
    console.log(`client bundle: ${code.length} bytes minified, ${gzipped} gzipped (budget ${MAX_GZIPPED_BYTES})`);
    expect(gzipped).toBeLessThanOrEqual(MAX_GZIPPED_BYTES);
  }, 30_000);

  it('holds the client, the reserved names and eventsource-parser, and nothing of the server', async () => {
    const { code, inputs } = await bundleClient(false);
    const places = new Set(inputs.map((input) => input.replace(/^(node_modules\/[^/]+|src\/[^/]+)\/.*$/, '$1')));
    expect([...places].sort()).toEqual(['node_modules/eventsource-parser', 'src/client', 'src/protocol']);
    expect(inputs.filter((input) => input.startsWith('src/protocol/'))).toEqual(['src/protocol/reserved-events.ts']);
    expect(code).not.toMatch(/from\s*["'](node:|@nestjs|rxjs)/);
  }, 30_000);

  it("imports from the server types only, and at run time only the reserved names and eventsource-parser", () => {
    const sources = readdirSync(CLIENT_DIR).filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const text = readFileSync(`${CLIENT_DIR}${file}`, 'utf8');
      const imports = [...text.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)].map(([, typeOnly, from]) => ({
        typeOnly: Boolean(typeOnly),
        from,
      }));
      for (const { typeOnly, from } of imports) {
        const allowed = from.startsWith('./') || from === '../protocol/reserved-events.js' || from === 'eventsource-parser' || (typeOnly && from.startsWith('../sse/'));
        expect({ file, from, allowed }).toEqual({ file, from, allowed: true });
      }
    }
  });
});
