/** Where the last event id may be persisted: `sessionStorage`, `localStorage`, or anything with the same three calls. */
export interface IdStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

// Kept for the life of the page (or process), so that a new client of the same user and URL resumes too.
const remembered = new Map<string, string>();

/** The id of the last event a client received, for one user and stream URL. */
export class LastEventIdStore {
  private readonly key: string;

  constructor(
    userId: string | undefined,
    url: string,
    private readonly storage?: IdStorage,
  ) {
    this.key = `sse-last-event-id ${userId ?? ''} ${url}`;
  }

  get(): string | undefined {
    return remembered.get(this.key) ?? this.storage?.getItem(this.key) ?? undefined;
  }

  set(id: string): void {
    remembered.set(this.key, id);
    try {
      this.storage?.setItem(this.key, id);
    } catch {
      // A full or forbidden storage: the id is still kept for this page.
    }
  }

  clear(): void {
    remembered.delete(this.key);
    this.storage?.removeItem(this.key);
  }
}
