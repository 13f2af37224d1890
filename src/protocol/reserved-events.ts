/**
 * The wire contract of the module's own events: their names and their data.
 * The server and the browser client both import this module, so it imports
 * nothing and holds nothing but names and types. Every reserved type starts
 * with `sse.`, which applications cannot publish.
 */

/** The prefix of the module's own event types; `publish` refuses it. */
export const RESERVED_TYPE_PREFIX = 'sse.';

/** First event of every stream: carries `retry:` and the position the stream starts from. */
export const READY_EVENT = 'sse.ready';
/** Sent when a resumed stream cannot replay everything missed: the client should refetch its state. */
export const LOSS_EVENT = 'sse.loss';
/** Sent before the server ends a stream on purpose: the client should not reconnect. */
export const CLOSE_EVENT = 'sse.close';
/** First event of a resumable POST stream: where a GET with `Last-Event-ID` resumes it. */
export const RESUME_EVENT = 'sse.resume';
/**
 * A change to the user's inbox: carries the unread count after it. Written without an `id:` (it is state that a
 * client fetches when it connects, never replayed), and never reaches another user's streams.
 */
export const INBOX_EVENT = 'sse.inbox';

/**
 * The comment line (`: topic <name>`) that an event published to a topic carries
 * in its block, before its `data:`, naming the topic: a client that shares one
 * stream among several readers gives each reader only the topics it asked for.
 * `EventSource` ignores comments, so plain clients see nothing new.
 */
export const TOPIC_COMMENT_PREFIX = 'topic ';

/** The data of `sse.ready`. */
export interface ReadyData {
  /** Interval of the heartbeat comments: a client that hears nothing for twice this may reconnect. */
  readonly heartbeatMs: number;
}

/** Why a resumed stream cannot be given everything it missed. */
export type LossReason =
  /** The id is not one this module issues. */
  | 'malformed'
  /** The id is newer than any event issued. */
  | 'unknown'
  /** The id is from before the store started (an in-memory store after a restart). */
  | 'restarted'
  /** Events after the id have been dropped from the history (by count or age). */
  | 'expired';

/** The data of `sse.loss`. */
export interface LossData {
  readonly reason: LossReason;
  /** The cursor the client asked to resume after. */
  readonly lastEventId: string;
}

/** `closeUser()` ended the stream (an admin's kick, a sign-out). */
export const CLOSED_BY_SERVER = 'closed-by-server';
/** A finite stream (a chat answer) has delivered everything it will. */
export const COMPLETED = 'completed';

/** The data of `sse.close`: the client must not reconnect. Reasons beyond these two may be added. */
export interface CloseData {
  readonly reason: typeof CLOSED_BY_SERVER | typeof COMPLETED | (string & {});
}

/** The data of `sse.resume`. */
export interface ResumeData {
  /** Where to resume: a path on the origin of the POST (or an absolute URL), to GET with `Last-Event-ID`. */
  readonly url: string;
}

/** What changed in an inbox. */
export type InboxChangeKind = 'added' | 'read' | 'unread' | 'archived' | 'read-all';

/** The data of `sse.inbox`. */
export interface InboxData {
  /** The user's unread items (neither read nor archived) after the change. */
  readonly unread: number;
  readonly change: InboxChangeKind;
  /** The items the change touched; absent for `read-all`. */
  readonly ids?: readonly string[];
}
