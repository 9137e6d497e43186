/**
 * Real servers for tests: one Temporal dev server per mocha process (the real `temporal` CLI,
 * headless, in memory), stopped by the root hook; databases per suite (PGlite in a temp dir, or
 * a fresh database on the Postgres from scripts/services/postgres.sh).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openDatabase, type DatabaseHandle } from '../../db/connect.js';
import { migrateToLatest } from '../../db/migrate.js';
import { startDevServer, type DevServer } from '../../worker/temporal-server.js';

let server: Promise<DevServer> | undefined;

/** The shared Temporal dev server's address (started on first use). */
export async function testTemporalAddress(): Promise<string> {
  server ??= startDevServer({
    uiPort: null,
    dbFile: null,
    logFile: path.join(os.tmpdir(), `updraft-test-temporal-${process.pid}.log`),
  });
  return (await server).address;
}

export async function stopTestTemporal(): Promise<void> {
  if (server) await (await server).stop();
  server = undefined;
}

export type TestDbKind = 'pglite' | 'postgres';
export const TEST_DB_KINDS: readonly TestDbKind[] = ['postgres', 'pglite'];

export function requirePostgresUrl(): string {
  const url = process.env.UPDRAFT_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'UPDRAFT_TEST_DATABASE_URL is not set: start Postgres with `eval "$(scripts/services/postgres.sh start)"` or run `make test`',
    );
  }
  return url;
}

let counter = 0;

/** A fresh, migrated database. For Postgres, a new database on the test server. */
export async function createTestDatabase(kind: TestDbKind): Promise<DatabaseHandle & { url: string | null }> {
  if (kind === 'pglite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-pglite-'));
    const h = await openDatabase({ pglitePath: dir });
    await migrateToLatest(h.db);
    // Bound before Object.assign replaces h.close (calling h.close inside would recurse forever).
    const closeHandle = h.close.bind(h);
    return Object.assign(h, {
      url: null,
      close: async () => {
        await closeHandle();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    });
  }
  const base = requirePostgresUrl();
  const name = `updraft_t${process.pid}_${Date.now()}_${counter++}`;
  const admin = new Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const h = await openDatabase({ url: url.toString() });
  await migrateToLatest(h.db);
  const closeHandle = h.close.bind(h);
  return Object.assign(h, {
    url: url.toString(),
    close: async () => {
      await closeHandle();
      const a = new Client({ connectionString: base });
      await a.connect();
      await a.query(`drop database if exists "${name}" with (force)`);
      await a.end();
    },
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `updraft-${prefix}-`));
}
