import { mkdir } from 'node:fs/promises';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Database } from './database.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { PGliteSession } from './pglite-session.js';
import { RESULT_PARSERS } from './type-parsers.js';

export const DATABASE_KINDS = ['postgres', 'pglite'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseKind;
  /** Ends the pool or closes PGlite; idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** A `postgres://` URL: use a real Postgres through a `pg` pool. Wins over `pglitePath`. */
  readonly url?: string;
  /** PGlite data directory (created if missing), or `memory://` for a throwaway in-memory one. */
  readonly pglitePath?: string;
  /** Maximum pool size for Postgres. Default 10. */
  readonly poolSize?: number;
}

export class DatabaseConfigError extends Error {
  override readonly name = 'DatabaseConfigError';
}

/**
 * Opens the record database: Postgres when `url` is given, else PGlite at `pglitePath`. Both return
 * jsonb as parsed JSON, timestamptz as Date and int8/count as number (see type-parsers.ts).
 * Connections are made lazily, on the first query.
 */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url !== undefined && opts.url !== '') {
    return openPostgres(opts.url, opts.poolSize ?? 10);
  }
  if (opts.pglitePath !== undefined && opts.pglitePath !== '') {
    return openPGlite(opts.pglitePath);
  }
  throw new DatabaseConfigError(
    'openDatabase: give either url (postgres://...) or pglitePath (a directory, or memory://)',
  );
}

function openPostgres(url: string, poolSize: number): DatabaseHandle {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new DatabaseConfigError(
      `openDatabase: url must start with postgres:// or postgresql://, got "${redact(url)}"`,
    );
  }
  // Per-pool parsers: pg's global `types.setTypeParser` would change every other pg user in-process.
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') => {
      const parser = format === 'binary' ? undefined : RESULT_PARSERS[oid];
      return parser ?? pg.types.getTypeParser(oid, format ?? 'text');
    },
  } as pg.CustomTypesConfig;
  // UTC sessions on both drivers, so SQL that renders or truncates timestamps agrees too.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types, options: '-c TimeZone=UTC' });
  // An idle client that loses its server (restart, failover) emits 'error' on the pool; without a
  // listener that would crash the process. The next query gets a fresh client.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', close: once(() => db.destroy()) };
}

async function openPGlite(path: string): Promise<DatabaseHandle> {
  const inMemory = path.startsWith('memory://');
  if (!inMemory) await mkdir(path, { recursive: true });
  const dialect = new PGliteDialect({
    pglite: async () => {
      const pglite = new PGlite(path);
      await pglite.waitReady;
      return pglite;
    },
    settings: PGLITE_SETTINGS,
  });
  const db = new Kysely<Database>({ dialect });
  return { db, kind: 'pglite', close: once(() => db.destroy()) };
}

/** Same session zone as the pg pool (see openPostgres). */
const PGLITE_SETTINGS = { TimeZone: 'UTC' } as const;

/**
 * The record database on a PGlite whose session is shared with a PGlite server (`updraft dev`):
 * in-process queries take turns with the server's clients. Closing does not close the PGlite.
 */
export function openSharedPGlite(session: PGliteSession): DatabaseHandle {
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ session, settings: PGLITE_SETTINGS }) });
  return { db, kind: 'pglite', close: once(() => db.destroy()) };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
