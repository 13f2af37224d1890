/**
 * Writes an answer to a chat message, piece by piece. It is both the injection
 * token and the type: provide a real model in its place.
 */
export abstract class ChatModel {
  /** Yields the answer's text in pieces; stops, rejecting, once `signal` aborts. */
  abstract answer(message: string, signal: AbortSignal): AsyncIterable<string>;
}

/** A model's failure mid-answer, told to the client as an `error` event. */
export class ChatModelError extends Error {
  override readonly name = 'ChatModelError';
}
