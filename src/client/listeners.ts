/** Listeners by key (an event type, or a client's own callbacks). */
export type ListenerMap = Map<string, Set<(...args: never[]) => void>>;

/** Adds a listener under `key`; returns what removes it. */
export function listen(listeners: ListenerMap, key: string, listener: (...args: never[]) => void): () => void {
  let set = listeners.get(key);
  if (!set) listeners.set(key, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

/** Calls the listeners of `key`: one that throws is reported, and the others still run. */
export function emit(listeners: ListenerMap, key: string, ...args: unknown[]): void {
  listeners.get(key)?.forEach((listener) => {
    try {
      (listener as (...args: unknown[]) => void)(...args);
    } catch (err) {
      (globalThis.reportError ?? console.error)(err);
    }
  });
}
