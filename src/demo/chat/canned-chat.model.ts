import { setTimeout as delay } from 'node:timers/promises';
import { ChatModel, ChatModelError } from './chat-model.js';

/** Ask it a message containing this, and it fails mid-answer (for trying out the error path). */
export const FAIL_TRIGGER = '#fail';

/**
 * A local, deterministic stand-in for a language model: it streams a canned
 * answer word by word with a small delay, so the demo runs with no network.
 */
export class CannedChatModel extends ChatModel {
  constructor(private readonly delayMs: number) {
    super();
  }

  async *answer(message: string, signal: AbortSignal): AsyncIterable<string> {
    const words = cannedAnswer(message).split(/(?<= )/);
    for (const [index, word] of words.entries()) {
      await delay(this.delayMs, undefined, { signal });
      if (message.includes(FAIL_TRIGGER) && index === 5) throw new ChatModelError('The model stopped unexpectedly');
      yield word;
    }
  }
}

function cannedAnswer(message: string): string {
  const topic = message.trim().replace(/\s+/g, ' ').slice(0, 60);
  return (
    `You asked: "${topic}". This answer comes from the demo's canned model, streamed to you one word at a time ` +
    'over Server-Sent Events. Every word is an event with its own id, kept in the history like any notification, ' +
    'so if your connection breaks or you reload the page, the answer resumes where it stopped, without repeating a word.'
  );
}
