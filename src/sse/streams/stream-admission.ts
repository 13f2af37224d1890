/**
 * A stream that is still being admitted (an asynchronous topic check, a job
 * looked up in a shared registry) must not let its response begin: a refusal
 * is then still a status with a JSON body. Whoever serves streams (the module's
 * writer) listens while it subscribes, and a stream announces what it waits on
 * when it is subscribed. rxjs subscribes through operators synchronously, so a
 * stream piped before it is served is heard as well.
 */
export interface AdmissionListener {
  /** Holds the response until `admission` settles. */
  hold(admission: Promise<unknown>): void;
}

let listening: AdmissionListener | undefined;

/** Runs `subscribe`, telling `listener` of every admission announced meanwhile. */
export function hearingAdmissions<T>(listener: AdmissionListener, subscribe: () => T): T {
  const outer = listening;
  listening = listener;
  try {
    return subscribe();
  } finally {
    listening = outer;
  }
}

/** Tells whoever is serving the stream being subscribed that it waits on `admission`. */
export function announceAdmission(admission: Promise<unknown>): void {
  listening?.hold(admission);
}
