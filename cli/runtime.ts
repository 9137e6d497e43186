/**
 * Where the CLI finds the database and Temporal. A running `updraft dev` publishes its endpoints
 * in .updraft/dev.json (PGlite is served over a local socket then, because PGlite itself is
 * single-process); otherwise DATABASE_URL / TEMPORAL_ADDRESS, otherwise PGlite under .updraft/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import type { UpdraftConfig } from '../worker/config.js';
import { lockPglite } from '../worker/pglite-lock.js';
import { connectTemporal } from '../worker/stack.js';
import { CliError } from './output.js';

export interface DevInfo {
  pid: number;
  databaseUrl: string | null;
  temporalAddress: string;
  uiUrl: string | null;
  /** The DAGs folder the stack's worker parses (absent in files of older versions). */
  dagsFolder?: string;
  /** Which database databaseUrl reaches: the dev's served PGlite, or DATABASE_URL's Postgres. */
  database?: 'pglite' | 'postgres';
}

export function devInfoPath(config: UpdraftConfig): string {
  return path.join(config.home, 'dev.json');
}

/** The running `updraft dev`, if any (a stale file from a killed dev is ignored). */
export function readDevInfo(config: UpdraftConfig): DevInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(devInfoPath(config), 'utf8')) as DevInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return null;
  }
}

/**
 * The DAGs folder a command that parses or checks DAG files works on: the running `updraft dev`'s
 * folder when there is one (so the CLI and the stack never disagree about what is active), else
 * UPDRAFT_DAGS_FOLDER / ./dags. Refuses when UPDRAFT_DAGS_FOLDER names another folder than the
 * running stack's.
 */
export function stackDagsFolder(config: UpdraftConfig, env: NodeJS.ProcessEnv = process.env): string {
  const dev = readDevInfo(config);
  if (!dev?.dagsFolder) return config.dagsFolder;
  if (env.UPDRAFT_DAGS_FOLDER && config.dagsFolder !== dev.dagsFolder) {
    throw new CliError(
      `UPDRAFT_DAGS_FOLDER is ${config.dagsFolder}, but the running \`updraft dev\` (pid ${dev.pid}) parses ${dev.dagsFolder}; ` +
        "unset UPDRAFT_DAGS_FOLDER (or set it to that folder) to work on the running stack's DAGs, or stop `updraft dev` first",
    );
  }
  return dev.dagsFolder;
}

export async function openCliDatabase(
  config: UpdraftConfig,
  opts: { migrate?: boolean } = {},
): Promise<DatabaseHandle> {
  const migrate = opts.migrate ?? true;
  const dev = readDevInfo(config);
  const url = config.databaseUrl ?? dev?.databaseUrl ?? null;
  if (url) {
    const handle = await openDatabase({ url });
    if (migrate) await migrateToLatest(handle.db);
    return handle;
  }
  if (dev === null && fs.existsSync(devInfoPath(config))) {
    // A dev.json whose process is gone: a dev that was killed. Its data is intact.
    fs.rmSync(devInfoPath(config), { force: true });
  }
  const release = lockPglite(config.pglitePath, `updraft ${process.argv.slice(2, 4).join(' ')}`);
  try {
    const handle = await openDatabase({ pglitePath: config.pglitePath });
    if (migrate) await migrateToLatest(handle.db);
    return {
      ...handle,
      close: async () => {
        await handle.close();
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

export async function openCliTemporal(
  config: UpdraftConfig,
): Promise<{ client: Client; close(): Promise<void>; uiUrl: string | null }> {
  const dev = readDevInfo(config);
  const address = config.temporalAddress ?? dev?.temporalAddress ?? null;
  if (!address) {
    throw new CliError(
      'no Temporal server: start one with `updraft dev` in another terminal, or set TEMPORAL_ADDRESS (`updraft dags test <id>` needs neither)',
    );
  }
  const connection = await connectTemporal(address, config.namespace, 10_000);
  return {
    client: new Client({ connection, namespace: config.namespace }),
    close: () => connection.close(),
    uiUrl: dev?.uiUrl ?? null,
  };
}

export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
