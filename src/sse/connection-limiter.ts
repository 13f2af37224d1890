/** A held connection slot. Releasing it more than once is harmless. */
export interface ConnectionLease {
  release(): Promise<void>;
}

export type LimitScope = 'user' | 'instance';

export type AcquireResult =
  | { readonly granted: true; readonly lease: ConnectionLease }
  | { readonly granted: false; readonly scope: LimitScope; readonly limit: number };

/**
 * Counts the streams of each user and of the instance, and refuses one past
 * the limits. It is both the injection token and the type.
 */
export abstract class ConnectionLimiter {
  abstract acquire(userId: string): Promise<AcquireResult>;
}
