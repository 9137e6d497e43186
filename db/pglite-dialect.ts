import {
  CompiledQuery,
  IdentifierNode,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  RawNode,
  createQueryId,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type { PGlite } from '@electric-sql/pglite';
import { PGliteSession, type SessionLease, type SessionOwner } from './pglite-session.js';
import { RESULT_PARSERS } from './type-parsers.js';

/**
 * A Kysely dialect for PGlite (Postgres compiled to WASM, in-process). SQL, adapter and
 * introspection are Postgres's; only the driver differs.
 *
 * PGlite is a single connection. Kysely assumes a pool: it acquires a connection per query, and
 * holds one for the whole of a transaction. The driver therefore hands out its one connection as
 * a turn of the PGliteSession (a FIFO lock, pglite-session.ts), so a transaction's statements are
 * never interleaved with other queries — this driver's, or those of the PGlite server's clients
 * when the session is shared with one (pglite-server.ts).
 * Consequence: inside `db.transaction().execute(trx => ...)`, query through `trx`, never `db`;
 * a query on `db` there waits for the transaction that is waiting for it (with `pg` it would
 * merely run outside the transaction, which is a bug too).
 */
export type PGliteDialectConfig =
  | {
      /** An instance, or a factory called once on first use (so opening the database is lazy). */
      readonly pglite: PGlite | (() => Promise<PGlite>);
      /** Whether destroying the Kysely instance closes PGlite as well. Default true. */
      readonly closeOnDestroy?: boolean;
      /** Run-time parameters for this driver's turns (e.g. TimeZone). */
      readonly settings?: Readonly<Record<string, string>>;
    }
  | {
      /** A session shared with others (a PGlite server); its creator closes the PGlite. */
      readonly session: PGliteSession;
      readonly settings?: Readonly<Record<string, string>>;
    };

export class PGliteDialect implements Dialect {
  readonly #config: PGliteDialectConfig;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely's Dialect signature.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

class PGliteDriver implements Driver {
  readonly #config: PGliteDialectConfig;
  readonly #owner: SessionOwner;
  #session: PGliteSession | undefined;
  #connection: PGliteConnection | undefined;
  #lease: SessionLease | undefined;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
    this.#owner = { label: 'in-process', settings: new Map(Object.entries(config.settings ?? {})) };
  }

  async init(): Promise<void> {
    if ('session' in this.#config) {
      this.#session = this.#config.session;
    } else {
      const { pglite } = this.#config;
      const instance = typeof pglite === 'function' ? await pglite() : pglite;
      await instance.waitReady;
      this.#session = new PGliteSession(instance);
    }
    this.#connection = new PGliteConnection(this.#session.pglite);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#session === undefined || this.#connection === undefined) {
      throw new Error('PGlite driver: the database is closed (acquireConnection after destroy)');
    }
    const lease = await this.#session.acquire(this.#owner);
    if (this.#connection === undefined) {
      await lease.release({ reset: false });
      throw new Error('PGlite driver: the database is closed (acquireConnection after destroy)');
    }
    this.#lease = lease;
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel !== undefined || settings.accessMode !== undefined) {
      statement = 'start transaction';
      if (settings.isolationLevel !== undefined) statement += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode !== undefined) statement += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('savepoint', savepointName), createQueryId()));
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('rollback to', savepointName), createQueryId()));
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('release', savepointName), createQueryId()));
  }

  async releaseConnection(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    // Our own statements leave no session state behind (no SET, no named statements): no reset.
    await lease?.release({ reset: false });
  }

  async destroy(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    // Wait for in-flight work (a running transaction) before closing the WASM instance under it.
    const lease = await session.acquire(this.#owner);
    try {
      this.#session = undefined;
      this.#connection = undefined;
      const ownsPGlite = 'pglite' in this.#config && this.#config.closeOnDestroy !== false;
      if (ownsPGlite && !session.pglite.closed) {
        session.close();
        await session.pglite.close();
      }
    } finally {
      await lease.release({ reset: false });
    }
  }
}

/** `savepoint "name"` and friends; the name goes through IdentifierNode so it is quoted. */
function savepointNode(command: string, savepointName: string): RawNode {
  return RawNode.createWithChildren([RawNode.createWithSql(`${command} `), IdentifierNode.create(savepointName)]);
}

const AFFECTING_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], {
      parsers: RESULT_PARSERS,
    });
    const command = result.command?.toUpperCase();
    const affected = result.rowCount ?? result.affectedRows;
    return {
      numAffectedRows:
        command !== undefined && AFFECTING_COMMANDS.has(command) && affected !== undefined
          ? BigInt(affected)
          : undefined,
      rows: result.rows,
    };
  }

  /**
   * PGlite has no cursors over its query API; rows are fetched whole and yielded in chunks, so
   * Kysely's `.stream()` works but does not bound memory.
   */
  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
      throw new Error(`PGlite driver: streamQuery chunkSize must be a positive integer, got ${chunkSize}`);
    }
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (let i = 0; i < rows.length; i += chunkSize) {
      yield { rows: rows.slice(i, i + chunkSize) };
    }
  }
}
