import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Header, NotFoundException, Param } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

// The page's own files (src/demo/page, both from src/ and from dist/), and the
// browser builds of the SSE client it uses, straight from node_modules.
const PAGE_DIR = fileURLToPath(new URL('../../src/demo/page/', import.meta.url));
const require = createRequire(import.meta.url);
// Served as /vendor/<package>/<file>, so that their relative imports resolve.
const VENDOR: Record<string, string> = {
  'eventsource/index.js': join(dirname(require.resolve('eventsource')), 'index.js'),
  'eventsource-parser/index.js': join(dirname(require.resolve('eventsource-parser')), 'index.js'),
  'eventsource-parser/stream.js': join(dirname(require.resolve('eventsource-parser')), 'stream.js'),
};

function load(path: string): string {
  return readFileSync(path, 'utf8');
}

/** The demo page: a notification bell, a live list, an admin form and a chat. */
@ApiExcludeController()
@Controller()
export class PageController {
  private readonly files = {
    html: load(join(PAGE_DIR, 'index.html')),
    script: load(join(PAGE_DIR, 'app.js')),
    style: load(join(PAGE_DIR, 'app.css')),
  };
  private readonly vendor = new Map(Object.entries(VENDOR).map(([name, path]) => [name, load(path)]));

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  page(): string {
    return this.files.html;
  }

  @Get('app.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  script(): string {
    return this.files.script;
  }

  @Get('app.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  style(): string {
    return this.files.style;
  }

  @Get('vendor/:pkg/:file')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  vendorFile(@Param('pkg') pkg: string, @Param('file') file: string): string {
    const text = this.vendor.get(`${pkg}/${file}`);
    if (text === undefined) throw new NotFoundException();
    return text;
  }
}
