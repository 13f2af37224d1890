import type { MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { announceAdmission } from './stream-admission.js';
import type { MessageSink } from './stream-subscriber.js';

type Open = (sink: MessageSink) => () => void;

/**
 * The stream of one principal, as an Observable. The module's writer serves
 * it straight to the response when a route returns it as it is, with no
 * operator between its messages and the socket; piped through operators, it
 * is an ordinary Observable and is served as one.
 *
 * With an `admission` (a decision still to come), it opens once that resolves,
 * and errors with what it rejects with; until then, the module's writer sends
 * no headers, so that a refusal is answered with its status.
 */
export class NotificationStream extends Observable<MessageEvent> {
  private readonly open: Open;

  constructor(open: Open, admission?: Promise<void>) {
    const opens = admission ? afterAdmission(open, admission) : open;
    super((subscriber) => opens(subscriber));
    this.open = opens;
  }

  /** Opens the stream into `sink`; returns what closes it. */
  serve(sink: MessageSink): () => void {
    return this.open(sink);
  }
}

function afterAdmission(open: Open, admission: Promise<void>): Open {
  // A stream that is never subscribed must not leave its refusal unhandled.
  admission.catch(() => undefined);
  return (sink) => {
    let close: (() => void) | undefined;
    let gone = false;
    announceAdmission(admission);
    admission.then(
      () => {
        // The client may have gone while it was decided.
        if (gone || sink.closed) return;
        try {
          close = open(sink);
        } catch (err) {
          sink.error(err);
        }
      },
      (err: unknown) => {
        if (!gone) sink.error(err);
      },
    );
    return () => {
      gone = true;
      close?.();
    };
  };
}
