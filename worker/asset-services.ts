/**
 * The asset side of a worker: the AssetRunService that starts data-aware runs, the asset watchers
 * the DAG bag declares (AssetWatcherService), and on Postgres a LISTEN connection that wakes the
 * run service when any process queues an event. Events recorded in this process (a task's outlets,
 * a watcher) wake it directly.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { listenForAssetEvents, type AssetEventListener } from '../db/asset-notify.js';
import type { Database } from '../db/database.js';
import { declaredWatchers } from '../engine/assets/watcher.js';
import type { DagSpec } from '../spec/dag-spec.js';
import type { RunOptions } from '../workflows/types.js';
import { AssetRunService } from './asset-runs.js';
import { AssetWatcherService } from './asset-watchers/service.js';
import type { AssetRunConfig } from './config.js';

export interface AssetServicesOptions {
  db: Kysely<Database>;
  client: Client;
  runOptions: RunOptions;
  logsFolder: string | null;
  config: AssetRunConfig;
  /** The DAGs whose watchers run here. */
  dags: readonly DagSpec[];
  /** A postgres:// URL to LISTEN on; null: no notifications (PGlite), polling only. */
  listenUrl: string | null;
  log: (line: string) => void;
}

export interface AssetServices {
  runs: AssetRunService;
  watchers: AssetWatcherService;
  /** The longest wait between two passes of the run service. */
  pollIntervalMs: number;
  /** Wakes the run service: an event was just recorded. */
  nudge(): void;
  /** The DAGs changed (the DAG processor synced them): run the watchers they declare now. */
  updateDags(dags: readonly DagSpec[]): Promise<void>;
  /** Stops watchers (releasing their leases), the listener and the run service. */
  stop(): Promise<void>;
}

export async function startAssetServices(opts: AssetServicesOptions): Promise<AssetServices> {
  const { log } = opts;
  // Bound once the run service exists; a notification before that finds the first pass still to come.
  let wake = (): void => undefined;
  const nudge = (): void => wake();
  let listener: AssetEventListener | null = null;
  if (opts.listenUrl !== null) {
    try {
      listener = await listenForAssetEvents(opts.listenUrl, { onEvent: nudge, onError: log });
    } catch (err) {
      log(`asset events: cannot LISTEN (${(err as Error).message}); polling for due runs instead`);
    }
  }
  const pollIntervalMs = opts.config.pollIntervalMs ?? (listener ? 5000 : 250);
  const runs = new AssetRunService({
    db: opts.db,
    client: opts.client,
    runOptions: opts.runOptions,
    logsFolder: opts.logsFolder,
    pollIntervalMs,
    redriveAfterSeconds: opts.config.redriveAfterSeconds,
    log,
  });
  wake = () => runs.nudge();
  const declared = declaredWatchers(opts.dags);
  for (const c of declared.conflicts) log(c);
  const watchers = new AssetWatcherService({ db: opts.db, watchers: declared.watchers, onEvents: nudge, log });
  runs.start();
  try {
    await watchers.start();
  } catch (err) {
    await listener?.close();
    await runs.stop();
    throw err;
  }
  log(
    `assets: data-aware runs on (${listener ? 'woken by Postgres notifications, ' : ''}looking at least every ${pollIntervalMs} ms), ${declared.watchers.length} watcher(s)`,
  );
  return {
    runs,
    pollIntervalMs,
    watchers,
    nudge,
    updateDags: async (dags) => {
      const next = declaredWatchers(dags);
      for (const c of next.conflicts) log(c);
      await watchers.update(next.watchers);
    },
    stop: async () => {
      await watchers.stop();
      await listener?.close();
      await runs.stop();
    },
  };
}
