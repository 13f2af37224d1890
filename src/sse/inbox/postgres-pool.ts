/**
 * What the PostgreSQL inbox uses of a `pg` Pool, declared by its shape so that
 * the package's declarations do not need `pg`, an optional peer dependency.
 */
export interface PostgresPool {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  connect(): Promise<PostgresClient>;
  end(): Promise<void>;
}

/** A connection checked out of the pool, for a transaction. */
export interface PostgresClient {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  release(err?: Error | boolean): void;
}
