/**
 * AssetRunService: the worker's data-aware scheduler. It turns queued asset events into runs of the
 * DAGs scheduled on them: each pass asks the database which DAGs have queued events and may run
 * (dueAssetConsumers), decides and claims each one's run exactly once (consumeReadyRun, under a
 * per-DAG advisory lock, so any number of workers can run this side by side), and starts it the way
 * a trigger does (client/asset-runs.ts assetRunStarter). Claims a crashed worker left are re-driven.
 *
 * A pass runs when woken (an event recorded in this process, or a Postgres notification from any
 * process) and at least every pollIntervalMs, which bounds the latency of events no one wakes it
 * for (PGlite served to other processes by `updraft dev`). Independent of time-based schedules:
 * an asset-scheduled DAG has no Temporal Schedule.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import {
  assetRunStarter,
  driveAssetTriggeredRuns,
  isPermanentStartError,
  type DriveResult,
} from '../client/asset-runs.js';
import { dueAssetConsumers } from '../db/asset-triggered-run.repository.js';
import type { Database } from '../db/database.js';
import type { RunOptions } from '../workflows/types.js';

export interface AssetRunServiceOptions {
  db: Kysely<Database>;
  client: Client;
  runOptions: RunOptions;
  logsFolder?: string | null;
  /** Longest wait between two passes when nothing wakes the service, ms. Default 1000. */
  pollIntervalMs?: number;
  /** Re-drive claims left 'claimed' at least this long (a consumer crashed), seconds. Default 30. */
  redriveAfterSeconds?: number;
  log?: (line: string) => void;
}

export class AssetRunService {
  readonly #opts: AssetRunServiceOptions;
  #loop: Promise<void> | null = null;
  #stopping = false;
  #woken = false;
  #wake: (() => void) | null = null;
  #passes = 0;

  constructor(opts: AssetRunServiceOptions) {
    this.#opts = opts;
  }

  /** Starts the pass loop (the first pass right away). */
  start(): void {
    if (this.#loop) throw new Error('AssetRunService already started');
    this.#loop = this.#run();
  }

  /** Asks for a pass as soon as the current one ends (an event was just recorded). */
  nudge(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Ends the loop after the pass in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  /** Passes completed so far (tests wait on it). */
  get passes(): number {
    return this.#passes;
  }

  /** One pass: re-drive stale claims, then claim and start every due run. */
  async passOnce(): Promise<DriveResult> {
    const { db, client, runOptions, logsFolder } = this.#opts;
    const consumers = await dueAssetConsumers(db);
    const result = await driveAssetTriggeredRuns(
      db,
      consumers,
      assetRunStarter(db, client, { runOptions, logsFolder }),
      {
        redriveAfterSeconds: this.#opts.redriveAfterSeconds ?? 30,
        isPermanent: isPermanentStartError,
      },
    );
    for (const run of result.started) {
      const uris = Object.keys(run.triggering_asset_events);
      this.#log(
        `asset-triggered run ${run.dag_id} ${run.run_id} started: ${run.event_count} event(s) of ${uris.join(', ')}`,
      );
    }
    for (const e of result.errors) {
      this.#log(
        e.permanent
          ? `asset-triggered run ${e.dag_id} ${e.run_id} cannot start and is marked failed: ${e.error}`
          : `asset-triggered run ${e.dag_id} ${e.run_id} did not start (retried in ${this.#opts.redriveAfterSeconds ?? 30} s): ${e.error}`,
      );
    }
    return result;
  }

  async #run(): Promise<void> {
    const interval = this.#opts.pollIntervalMs ?? 1000;
    while (!this.#stopping) {
      this.#woken = false;
      try {
        await this.passOnce();
      } catch (err) {
        this.#log(
          `asset-triggered runs: pass failed (next in ${interval} ms): ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      this.#passes++;
      if (this.#stopping) break;
      if (!this.#woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, interval);
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
          this.#wake = done;
        });
        this.#wake = null;
      }
    }
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }
}
