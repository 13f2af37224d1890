import { inspect } from 'node:util';

/**
 * A problem of setup (a server that does not answer, the module not imported
 * where it is used), not a bug: its message says what to do, so it is shown as
 * that one line, by Nest's logger too, without a stack trace into the injector.
 */
export class SseSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
    this.stack = `${this.name}: ${message}`;
  }

  [inspect.custom](): string {
    return `${this.name}: ${this.message}`;
  }
}
