/**
 * AssetWatcherService: runs asset watchers (spec/asset-watcher.ts) inside a worker process. Each
 * watcher polls on its own timer, one poll at a time. Before a poll it takes or renews its lease
 * (db/asset-watcher.repository.ts); a worker without the lease stands by and keeps trying, so with
 * several workers exactly one polls each watcher and another takes over within the lease length
 * when that one dies. The commit re-checks the lease under the watcher's row lock, so a worker that
 * lost its lease mid-poll (paused, partitioned) records nothing.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Kysely } from 'kysely';
import type { AssetEventRecord } from '../../db/asset-event.repository.js';
import {
  acquireWatcherLease,
  commitWatcherPoll,
  recordWatcherError,
  registerAssetWatcher,
  releaseWatcherLease,
  type PollCommit,
} from '../../db/asset-watcher.repository.js';
import type { Database } from '../../db/database.js';
import { checkAssetWatchers } from '../../engine/assets/watcher.js';
import type { SecretCipher } from '../../secrets/encryption.js';
import type { AssetWatcherSpec, S3PrefixWatcherSpec } from '../../spec/asset-watcher.js';
import { listFolder, type Listing } from './folder.js';
import { listS3Prefix, s3ClientFor } from './s3.js';

export interface AssetWatcherServiceOptions {
  db: Kysely<Database>;
  /** The watchers, as data (checked here: a bad one fails start() naming its field). */
  watchers: readonly AssetWatcherSpec[];
  /** This process in leases. Default: `<hostname>:<pid>:<random>`. */
  owner?: string;
  /** Lease length in seconds; default max(30, 3 × the watcher's poll interval). */
  leaseSeconds?: number;
  /** How long a vanished item is remembered, seconds (default 1 day). */
  retentionSeconds?: number;
  /** S3 clients; default from the watcher's endpoint/region or its aws connection. */
  s3Client?: (spec: S3PrefixWatcherSpec) => Promise<S3Client>;
  /** Decrypts aws connections; default UPDRAFT_FERNET_KEY. */
  cipher?: SecretCipher | null;
  /** false: no timers, only pollOnce polls (a one-shot `poll now` tool, tests). Default true. */
  autoPoll?: boolean;
  /** Called after a poll recorded events (e.g. to nudge the asset-run consumer). */
  onEvents?: (watcher: string, events: readonly AssetEventRecord[]) => void;
  log?: (line: string) => void;
}

export type PollOutcome =
  /** Another worker holds the lease. */
  | { status: 'standby' }
  /** The lease was lost between listing and commit; nothing was recorded. */
  | { status: 'lease_lost' }
  | { status: 'polled'; emitted: AssetEventRecord[]; baseline: number; missing: number; seen: number }
  | { status: 'error'; error: string };

export interface WatcherStatus {
  name: string;
  holdsLease: boolean;
  polls: number;
  emitted: number;
  lastError: string | null;
}

interface Running {
  spec: AssetWatcherSpec;
  /** Set when this watcher is stopped or replaced: its timer must not come back. */
  stopped: boolean;
  timer: NodeJS.Timeout | null;
  inFlight: Promise<PollOutcome> | null;
  s3: S3Client | null;
  status: WatcherStatus;
}

export class AssetWatcherService {
  readonly owner: string;
  readonly #opts: AssetWatcherServiceOptions;
  readonly #running = new Map<string, Running>();
  #started = false;
  #stopping = false;

  constructor(opts: AssetWatcherServiceOptions) {
    this.#opts = opts;
    this.owner = opts.owner ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  /** Records the watchers and starts polling (the first poll of each right away, unless autoPoll is false). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('AssetWatcherService already started');
    const specs = checkAssetWatchers(this.#opts.watchers);
    for (const spec of specs) await registerAssetWatcher(this.#opts.db, spec);
    this.#started = true;
    for (const spec of specs) this.#add(spec);
    this.#log(`asset watchers: ${specs.length} started as ${this.owner}`);
  }

  /**
   * Runs exactly these watchers from now on (the DAG processor found the DAGs changed): watchers no
   * longer declared, or declared differently, are stopped and their leases released; new and changed
   * ones are registered and started. Cursors are kept by name, so a changed watcher goes on from
   * what it had seen.
   */
  async update(watchers: readonly AssetWatcherSpec[]): Promise<{ started: string[]; stopped: string[] }> {
    if (!this.#started || this.#stopping) throw new Error('AssetWatcherService.update: the service is not running');
    const next = new Map(checkAssetWatchers(watchers).map((w) => [w.name, w]));
    const stopped: string[] = [];
    for (const [name, r] of [...this.#running]) {
      const spec = next.get(name);
      if (spec !== undefined && JSON.stringify(spec) === JSON.stringify(r.spec)) continue;
      this.#running.delete(name);
      await this.#halt(r, true);
      stopped.push(name);
    }
    const started: string[] = [];
    for (const spec of next.values()) {
      if (this.#running.has(spec.name)) continue;
      await registerAssetWatcher(this.#opts.db, spec);
      this.#add(spec);
      started.push(spec.name);
    }
    if (started.length + stopped.length > 0)
      this.#log(`asset watchers: started ${started.join(', ') || 'none'}; stopped ${stopped.join(', ') || 'none'}`);
    return { started, stopped };
  }

  /** Stops polling, waits for polls in flight, and (unless told not to) gives the leases up. */
  async stop(opts: { releaseLeases?: boolean } = {}): Promise<void> {
    this.#stopping = true;
    const all = [...this.#running.values()];
    this.#running.clear();
    for (const r of all) await this.#halt(r, opts.releaseLeases ?? true);
  }

  #add(spec: AssetWatcherSpec): void {
    const r: Running = {
      spec,
      stopped: false,
      timer: null,
      inFlight: null,
      s3: null,
      status: { name: spec.name, holdsLease: false, polls: 0, emitted: 0, lastError: null },
    };
    this.#running.set(spec.name, r);
    if (this.#opts.autoPoll ?? true) this.#schedule(r, 0);
  }

  /** Stops one watcher: no more timers, its poll in flight awaited, its lease released (if asked). */
  async #halt(r: Running, releaseLease: boolean): Promise<void> {
    r.stopped = true;
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    await r.inFlight?.catch(() => undefined);
    if (releaseLease) await releaseWatcherLease(this.#opts.db, r.spec.name, this.owner);
    r.s3?.destroy();
  }

  status(): WatcherStatus[] {
    return [...this.#running.values()].map((r) => ({ ...r.status }));
  }

  /** Polls one watcher now (after any poll in flight); what the timer does. */
  async pollOnce(name: string): Promise<PollOutcome> {
    const r = this.#running.get(name);
    if (r === undefined)
      throw new Error(
        `no watcher named '${name}' in this service (known: ${[...this.#running.keys()].join(', ') || 'none'})`,
      );
    return this.#pollRunning(r);
  }

  async #pollRunning(r: Running): Promise<PollOutcome> {
    while (r.inFlight) await r.inFlight;
    const p = this.#poll(r);
    r.inFlight = p;
    try {
      return await p;
    } finally {
      r.inFlight = null;
    }
  }

  #schedule(r: Running, delayMs: number): void {
    if (this.#stopping || r.stopped) return;
    r.timer = setTimeout(() => {
      r.timer = null;
      if (r.stopped) return;
      void this.#pollRunning(r).finally(() => this.#schedule(r, r.spec.poll_interval * 1000));
    }, delayMs);
  }

  #leaseSeconds(spec: AssetWatcherSpec): number {
    return this.#opts.leaseSeconds ?? Math.max(30, 3 * spec.poll_interval);
  }

  async #poll(r: Running): Promise<PollOutcome> {
    const { db } = this.#opts;
    const spec = r.spec;
    const ttl = this.#leaseSeconds(spec);
    try {
      if (!(await acquireWatcherLease(db, spec.name, this.owner, ttl))) {
        if (r.status.holdsLease) this.#log(`asset watcher '${spec.name}': lease taken by another worker; standing by`);
        r.status.holdsLease = false;
        return { status: 'standby' };
      }
      if (!r.status.holdsLease)
        this.#log(`asset watcher '${spec.name}': lease taken; polling every ${spec.poll_interval} s`);
      r.status.holdsLease = true;
      const listing = await this.#list(r);
      const commit: PollCommit = await commitWatcherPoll(db, spec.name, this.owner, listing.items, {
        fireExisting: spec.fire_existing,
        complete: listing.complete,
        ttlSeconds: ttl,
        retentionSeconds: this.#opts.retentionSeconds,
      });
      r.status.polls++;
      if (commit.leaseLost) {
        r.status.holdsLease = false;
        this.#log(`asset watcher '${spec.name}': lease lost during the poll; nothing recorded`);
        return { status: 'lease_lost' };
      }
      r.status.lastError = null;
      r.status.emitted += commit.emitted.length;
      if (commit.emitted.length > 0) {
        this.#log(`asset watcher '${spec.name}': ${commit.emitted.length} new item(s) → events on '${spec.asset.uri}'`);
        this.#opts.onEvents?.(spec.name, commit.emitted);
      }
      return {
        status: 'polled',
        emitted: commit.emitted,
        baseline: commit.baseline,
        missing: commit.missing,
        seen: listing.items.length,
      };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      r.status.lastError = error;
      this.#log(`asset watcher '${spec.name}': poll failed: ${error}`);
      await recordWatcherError(db, spec.name, this.owner, error).catch(() => undefined);
      return { status: 'error', error };
    }
  }

  async #list(r: Running): Promise<Listing> {
    const spec = r.spec;
    if (spec.type === 'folder') return listFolder(spec);
    r.s3 ??= await (
      this.#opts.s3Client ??
      ((s) => s3ClientFor(this.#opts.db, s, this.#opts.cipher === undefined ? {} : { cipher: this.#opts.cipher }))
    )(spec);
    return listS3Prefix(r.s3, spec);
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }
}
