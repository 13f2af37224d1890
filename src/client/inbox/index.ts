// The inbox add-on of the client: `nest-sse-notifications/client/inbox`. An entry of its own, so that an app that
// does not use the inbox does not carry it; it shares the client's modules (auth, refusals, backoff) with it.

export { InboxClient } from './inbox-client.js';
export type { InboxClientOptions, InboxState, InboxStream } from './inbox-client.js';
export type { InboxItem, InboxPage, InboxStatus } from './inbox-list.js';
export type { InboxChangeKind, InboxData } from '../../protocol/reserved-events.js';
