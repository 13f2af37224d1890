/** Who a verified token says the caller is. */
export interface Principal {
  readonly userId: string;
  readonly roles: readonly string[];
  /** When the token stops being valid (epoch ms); a stream is closed then. */
  readonly expiresAt?: number;
  /** Every claim of the token, for the application's own rules. */
  readonly claims: Readonly<Record<string, unknown>>;
}
