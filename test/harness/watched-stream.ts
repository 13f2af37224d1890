import type { MessageEvent } from '@nestjs/common';
import type { Observable } from 'rxjs';

/** Subscribes to a stream in process (a unit test) and records what a client would see. */
export function watch(stream$: Observable<MessageEvent>) {
  const messages: MessageEvent[] = [];
  const state = { completed: false, error: undefined as unknown };
  const subscription = stream$.subscribe({
    next: (message) => messages.push(message),
    complete: () => (state.completed = true),
    error: (err) => (state.error = err),
  });
  return {
    messages,
    state,
    subscription,
    /** The application events, without the module's own. */
    events: () => messages.filter((m) => typeof m.type === 'string' && !m.type.startsWith('sse.')),
    types: () => messages.map((m) => m.type ?? 'comment'),
  };
}

/** Lets pending promise continuations (a resume's read, a decision) run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));
