import type { MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { MessageSink } from './stream-subscriber.js';

/**
 * The stream of one principal, as an Observable. The module's writer serves
 * it straight to the response when a route returns it as it is, with no
 * operator between its messages and the socket; piped through operators, it
 * is an ordinary Observable and is served as one.
 */
export class NotificationStream extends Observable<MessageEvent> {
  constructor(private readonly open: (sink: MessageSink) => () => void) {
    super((subscriber) => open(subscriber));
  }

  /** Opens the stream into `sink`; returns what closes it. */
  serve(sink: MessageSink): () => void {
    return this.open(sink);
  }
}
