/**
 * The DAG processor (Airflow's dag-processor, in the worker): keeps the DAG bag and its record in
 * Postgres in step with the DAGs folder while the worker runs. New, changed and removed files are
 * noticed by themselves:
 * - every min_file_process_interval the known files are bundled again, and those whose code
 *   changed (the file or a local module it imports) are parsed again;
 * - every dag_dir_list_interval (Airflow's refresh_interval) the folder is listed for new and
 *   removed files;
 * - with watching on, a change in the folder (fs.watch) starts a listing refresh at once.
 * Each change is synced to Postgres: new DAG versions with their code, active flags, import errors.
 * A bad file only becomes an import error; a failed refresh (the database away) is logged and
 * tried again on the next tick. Refreshes never overlap.
 */
import fs from 'node:fs';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { DagBag } from './dag-bag.js';
import { syncDagBag, type SyncResult } from './dag-sync.js';

export interface DagProcessorOptions {
  db: Kysely<Database>;
  bag: DagBag;
  /** Re-bundle the known files this often (UPDRAFT_MIN_FILE_PROCESS_INTERVAL). */
  fileProcessIntervalMs: number;
  /** List the folder this often (UPDRAFT_DAG_DIR_LIST_INTERVAL). */
  dirListIntervalMs: number;
  /** Refresh on file-system events (UPDRAFT_DAGS_FOLDER_WATCH). */
  watch: boolean;
  log?: (line: string) => void;
  /** Called after each sync that changed something (the scheduler syncs the DAGs' schedules). */
  onSynced?: (result: SyncResult) => Promise<unknown>;
  /** New DAGs start paused (UPDRAFT_DAGS_ARE_PAUSED_AT_CREATION). */
  pausedAtCreation?: boolean;
}

/** Events closer than this are one refresh (an editor writes a file in several steps). */
const WATCH_DEBOUNCE_MS = 250;

export class DagProcessor {
  private running: Promise<SyncResult | null> = Promise.resolve(null);
  private timers: NodeJS.Timeout[] = [];
  private watcher: fs.FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: DagProcessorOptions) {}

  start(): void {
    const tick = (list: boolean) => () => void this.refresh({ list }).catch(() => undefined);
    this.timers.push(
      setInterval(tick(false), this.opts.fileProcessIntervalMs),
      setInterval(tick(true), this.opts.dirListIntervalMs),
    );
    for (const t of this.timers) t.unref();
    if (this.opts.watch) this.startWatching();
  }

  /**
   * Parses what changed and syncs it; returns the sync, or null when nothing changed. Queued
   * behind a refresh in progress. Errors (the database away) are logged and rethrown.
   */
  refresh(opts: { list?: boolean } = {}): Promise<SyncResult | null> {
    const next = this.running.catch(() => null).then(() => this.refreshNow(opts));
    this.running = next;
    return next;
  }

  private async refreshNow(opts: { list?: boolean }): Promise<SyncResult | null> {
    if (this.stopped) return null;
    const log = this.opts.log ?? (() => undefined);
    try {
      const changes = await this.opts.bag.refresh(opts);
      if (changes.changed.length === 0 && changes.removed.length === 0) return null;
      const result = await syncDagBag(this.opts.db, this.opts.bag, new Set(changes.changed), {
        pausedAtCreation: this.opts.pausedAtCreation,
      });
      for (const v of result.newVersions)
        log(`DAG processor: ${v.filename}: DAG "${v.dagId}" version ${v.versionNumber}`);
      for (const f of changes.removed) log(`DAG processor: ${f} removed`);
      const broken = this.opts.bag.importErrors.filter((e) => changes.changed.includes(e.filename));
      for (const e of broken)
        log(
          `DAG processor: ${e.filename} failed to load (updraft dags list-import-errors): ${e.stacktrace.split('\n')[0]}`,
        );
      if (result.deactivated > 0)
        log(`DAG processor: ${result.deactivated} DAG(s) no longer in the folder marked inactive`);
      if (this.opts.onSynced) {
        await this.opts.onSynced(result).catch((err: Error) => log(`DAG processor: after the sync: ${err.message}`));
      }
      return result;
    } catch (err) {
      log(`DAG processor: refreshing ${this.opts.bag.folder} failed, trying again later: ${(err as Error).message}`);
      throw err;
    }
  }

  private startWatching(): void {
    try {
      this.watcher = fs.watch(this.opts.bag.folder, { recursive: true }, () => {
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => {
          this.debounce = null;
          void this.refresh({ list: true }).catch(() => undefined);
        }, WATCH_DEBOUNCE_MS);
      });
      this.watcher.on('error', (err) => {
        this.opts.log?.(
          `DAG processor: watching ${this.opts.bag.folder} stopped (${err.message}); changes are found every interval`,
        );
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      // A missing folder, or no inotify watches left: the intervals still find changes.
      this.opts.log?.(
        `DAG processor: cannot watch ${this.opts.bag.folder} (${(err as Error).message}); changes are found every interval`,
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = null;
    await this.running.catch(() => undefined);
  }
}
