/** Every stream a test opened, closed after it by `closeOpened()` (the suite's `afterEach`). */
const opened: Array<{ close(): void }> = [];

export function track<T extends { close(): void }>(stream: T): T {
  opened.push(stream);
  return stream;
}

export function closeOpened(): void {
  for (const stream of opened.splice(0)) stream.close();
}
