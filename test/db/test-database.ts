/**
 * Test databases for the db/ suites, one fresh database per suite, for each dialect:
 * - postgres: a uniquely named database created on the server in UPDRAFT_TEST_DATABASE_URL
 *   (start one with scripts/services/postgres.sh), dropped afterwards;
 * - pglite: a PGlite data directory in a new temp dir, removed afterwards.
 */
import { rmSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type DatabaseHandle, type DatabaseKind } from '../../db/connect.js';
import type { Database } from '../../db/database.js';
import { migrateToLatest } from '../../db/migrate.js';
import type { DagSpec } from '../../spec/dag-spec.js';

export const DIALECTS: readonly DatabaseKind[] = ['postgres', 'pglite'];

export interface TestDatabase {
  readonly handle: DatabaseHandle;
  readonly db: Kysely<Database>;
  /** Where another process (or another pool) opens the same database: a postgres:// URL or a PGlite directory. */
  readonly location: { url: string } | { pglitePath: string };
  cleanup(): Promise<void>;
}

export function testDatabaseUrl(): string {
  const url = process.env['UPDRAFT_TEST_DATABASE_URL'];
  if (url === undefined || url === '') {
    throw new Error(
      'UPDRAFT_TEST_DATABASE_URL is not set: start the test Postgres with ' +
        '`eval "$(scripts/services/postgres.sh start)"` and run the tests again',
    );
  }
  return url;
}

let pgliteTemplate: Promise<string> | undefined;

/**
 * PGlite's initdb takes ~10 s of CPU under WASM, reopening an initialized directory ~1 s. So the
 * process initializes one empty cluster once and each suite starts from a copy of it.
 */
function pgliteTemplateDir(): Promise<string> {
  pgliteTemplate ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-pglite-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const pglite = new PGlite(dir);
    await pglite.waitReady;
    await pglite.close();
    return dir;
  })();
  return pgliteTemplate;
}

/** A fresh, empty database of the given kind. */
export async function openEmptyDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const template = await pgliteTemplateDir();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-pglite-'));
    await cp(template, dir, { recursive: true });
    const handle = await openDatabase({ pglitePath: dir });
    return {
      handle,
      db: handle.db,
      location: { pglitePath: dir },
      cleanup: async () => {
        await handle.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const baseUrl = testDatabaseUrl();
  const name = `updraft_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ url: baseUrl, poolSize: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ url: url.toString() });
  return {
    handle,
    db: handle.db,
    location: { url: url.toString() },
    cleanup: async () => {
      await handle.close();
      try {
        await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
      } finally {
        await admin.close();
      }
    },
  };
}

/** A fresh database of the given kind with every migration applied. */
export async function openMigratedDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const t = await openEmptyDatabase(kind);
  try {
    await migrateToLatest(t.db);
  } catch (err) {
    await t.cleanup();
    throw err;
  }
  return t;
}

/** The rejection of `promise`; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`expected an Error, got ${String(err)}`);
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/**
 * A stand-in for a compiled spec: the repositories store the spec column as given, so their tests
 * use small JSON blobs rather than whole DagSpecs.
 */
export function specBlob(value: object): DagSpec {
  return value as unknown as DagSpec;
}

/** Seeds a dag_run (the parent of task instances, XComs and logs). */
export async function seedRun(db: Kysely<Database>, dag_id: string, run_id: string): Promise<void> {
  await db
    .insertInto('dag_run')
    .values({ dag_id, run_id, state: 'running', run_type: 'manual', workflow_id: `${dag_id}/${run_id}` })
    .execute();
}
