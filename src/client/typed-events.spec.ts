import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { InboxClient } from './inbox/index.js';
import { postStream, SseClient } from './index.js';

/**
 * The client is typed by the app's event map. The usage below is compiled by
 * the project's type check; each `@ts-expect-error` marks a line the compiler
 * must refuse (were the types loose, the directive itself would be an error).
 * The test compiles this file again without the directives and checks that the
 * compiler refuses exactly those lines, and nothing else.
 */

interface AppEvents {
  todo: { title: string; due?: string };
  badge: { unread: number };
}

export async function usage(): Promise<void> {
  const client = new SseClient<AppEvents>({ url: '/sse', userId: 'alice' });
  client.on('todo', (todo, meta) => `${todo.title.toUpperCase()} ${meta.id} ${meta.topic ?? ''}`);
  client.on('badge', (badge) => badge.unread.toFixed());
  client.on('sse.inbox', (inbox) => inbox.unread.toFixed());
  client.onAny((event) => (event.type === 'todo' ? event.data.title.trim() : event.data.unread.toFixed()));
  // @ts-expect-error a todo's title is a string
  client.on('todo', (todo: { title: number }) => todo.title);
  // @ts-expect-error there is no such event type
  client.on('todoo', () => undefined);
  // @ts-expect-error a badge has no title
  client.on('badge', (badge) => badge.title);
  // @ts-expect-error narrowed to todo, the data has no unread
  client.onAny((event) => event.type === 'todo' && event.data.unread);
  for await (const event of postStream<AppEvents>('/ask', { message: 'hi' })) {
    if (event.type === 'badge') event.data.unread.toFixed();
    // @ts-expect-error a badge's unread is a number
    if (event.type === 'badge') event.data.unread.trim();
  }
  // The inbox add-on: its items are the same union, and it follows the client.
  const inbox = new InboxClient<AppEvents>({ url: '/inbox' });
  inbox.follow(client);
  inbox.onState(({ unread, items }) => items.map((item) => (item.type === 'todo' ? item.data.title : item.data.unread + (unread ?? 0))));
  // @ts-expect-error narrowed to a todo, the item's data has no unread
  inbox.state.items.map((item) => item.type === 'todo' && item.data.unread);
  const page = await inbox.list({ status: 'archived', limit: 5 });
  page.items[0]?.createdAt.trim();
  // @ts-expect-error there is no such status
  await inbox.show('read');
}

const FILE = fileURLToPath(import.meta.url);

/** The line numbers (1-based) where the compiler reports an error in `text`, compiled in place of this file. */
function errorLines(text: string): number[] {
  const config = ts.readConfigFile(fileURLToPath(new URL('../../tsconfig.json', import.meta.url)), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, fileURLToPath(new URL('../../', import.meta.url)));
  const host = ts.createCompilerHost({ ...options, noEmit: true });
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === FILE ? text : readFile(name));
  const program = ts.createProgram([FILE], { ...options, noEmit: true }, host);
  const source = program.getSourceFile(FILE)!;
  return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    .map((diagnostic) => source.getLineAndCharacterOfPosition(diagnostic.start!).line + 1)
    .sort((a, b) => a - b);
}

describe('the client, typed by the app’s event map', () => {
  const text = readFileSync(FILE, 'utf8');
  const marked = text
    .split('\n')
    .flatMap((line, index) => (/^\s*\/\/ @ts-expect-error/.test(line) ? [index + 2] : []));

  it('compiles as written: every refusal expected is there, and nothing else is refused', () => {
    expect(marked.length).toBe(7);
    expect(errorLines(text)).toEqual([]);
  }, 60_000);

  it('refuses exactly the marked lines once the directives are gone', () => {
    const bare = text.replace(/^(\s*)\/\/ @ts-expect-error.*$/gm, '$1//');
    expect([...new Set(errorLines(bare))]).toEqual(marked);
  }, 60_000);

  it('has the usage as real code, run against nothing here', () => {
    expect(typeof usage).toBe('function');
    expect(SseClient).toBeDefined();
    expect(InboxClient).toBeDefined();
  });
});
