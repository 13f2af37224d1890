import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Header, NotFoundException, Param } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { bundleClient } from './client-bundle.js';

// The page's own files (src/demo/page, both from src/ and from dist/).
const PAGE_DIR = fileURLToPath(new URL('../../src/demo/page/', import.meta.url));

function load(file: string): string {
  return readFileSync(join(PAGE_DIR, file), 'utf8');
}

/** The demo page: a notification bell, a live list, an admin form and a chat, on the SSE client. */
@ApiExcludeController()
@Controller()
export class PageController {
  private readonly html = load('index.html');
  private readonly style = load('app.css');
  /** The page's modules, served as /page/<file>. */
  private readonly modules = new Map(
    readdirSync(PAGE_DIR)
      .filter((file) => file.endsWith('.js'))
      .map((file) => [file, load(file)]),
  );
  /** Built once, on the first request for it. */
  private client?: Promise<string>;

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  page(): string {
    return this.html;
  }

  @Get('app.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  css(): string {
    return this.style;
  }

  @Get('page/:file')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  module(@Param('file') file: string): string {
    const text = this.modules.get(file);
    if (text === undefined) throw new NotFoundException();
    return text;
  }

  /** The client's browser build (`nest-sse-notifications/client` and its inbox add-on), one ES module. */
  @Get('client.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  clientScript(): Promise<string> {
    this.client ??= bundleClient(false, ['client', 'client/inbox']).then(({ code }) => code);
    return this.client;
  }
}
