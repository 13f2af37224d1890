/** A held connection slot. Releasing it more than once is harmless. */
export interface ConnectionLease {
  release(): Promise<void>;
}

export type LimitScope = 'user' | 'instance';

export type AcquireResult =
  | { readonly granted: true; readonly lease: ConnectionLease }
  | { readonly granted: false; readonly scope: LimitScope; readonly limit: number };

export interface InstanceUsage {
  readonly id: string;
  readonly streams: number;
  readonly users: number;
}

/** Slots held across every instance, and by each. */
export interface ConnectionUsage {
  readonly streams: number;
  readonly users: number;
  readonly instances: readonly InstanceUsage[];
}

/**
 * Counts the streams of each user and of the instance, and refuses one past
 * the limits. It is both the injection token and the type.
 */
export abstract class ConnectionLimiter {
  abstract acquire(userId: string): Promise<AcquireResult>;
  /** Slots a user holds, on every instance. */
  abstract held(userId: string): Promise<number>;
  abstract usage(): Promise<ConnectionUsage>;
}
