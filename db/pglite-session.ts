/**
 * PGlite is one Postgres session. Everyone who uses an instance — the in-process Kysely dialect and
 * every connection of the PGlite server — takes turns with it through ONE PGliteSession: a FIFO
 * lock whose holder has the session to itself, from its first statement until it is idle again
 * (no open transaction). Two holders' statements, transactions or locks therefore never mix.
 *
 * Between holders the session is made fresh: an owner that may have left session state behind
 * (SET, prepared statements, temp tables, LISTEN, session advisory locks) is released with
 * `reset`, which runs DISCARD ALL; and each owner's run-time settings (TimeZone=UTC, a client's
 * startup parameters) are applied when its turn starts, where they differ from the defaults.
 */
import type { PGlite } from '@electric-sql/pglite';

export interface SessionOwner {
  /** Names the owner in messages ("connection 7 (psql)", "in-process"). */
  readonly label: string;
  /** Run-time parameters every turn of this owner runs with (name -> value). */
  readonly settings: ReadonlyMap<string, string>;
  /** Called while this owner holds the session and another owner starts waiting for it. */
  contended?(): void;
}

export interface SessionLease {
  /**
   * Ends the turn and hands the session to the next waiter. An open transaction is rolled back
   * first (a holder must never pass one on). `reset`: the holder may have changed session state,
   * so DISCARD ALL before anyone else gets the session.
   */
  release(opts: { reset: boolean }): Promise<void>;
}

export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
}

export class SessionWaitAbortedError extends Error {
  override readonly name = 'SessionWaitAbortedError';
}

interface Waiter {
  owner: SessionOwner;
  grant: () => void;
  fail: (err: Error) => void;
}

export class PGliteSession {
  readonly pglite: PGlite;
  readonly #log: (line: string) => void;
  readonly #waiters: Waiter[] = [];
  #holder: SessionOwner | null = null;
  #closed = false;
  /** The non-default settings in effect now, as a key (see settingsKey); '' = the defaults. */
  #appliedKey = '';
  /** Lower-cased setting name -> its value after RESET (pg_settings.reset_val); cached. */
  readonly #resetValues = new Map<string, string | null>();

  constructor(pglite: PGlite, opts: { log?: (line: string) => void } = {}) {
    this.pglite = pglite;
    this.#log = opts.log ?? (() => undefined);
  }

  /** How many owners wait for the session now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  get holder(): SessionOwner | null {
    return this.#holder;
  }

  /**
   * Waits (FIFO) for the session, then applies the owner's settings. With `signal`, an abort
   * while still waiting leaves the queue and rejects with SessionWaitAbortedError.
   */
  async acquire(owner: SessionOwner, signal?: AbortSignal): Promise<SessionLease> {
    if (this.#closed) throw new SessionClosedError('the embedded database is closed');
    if (this.#holder !== null || this.#waiters.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { owner, grant: resolve, fail: reject };
        this.#waiters.push(waiter);
        if (signal) {
          const onAbort = (): void => {
            const i = this.#waiters.indexOf(waiter);
            if (i < 0) return; // already granted
            this.#waiters.splice(i, 1);
            reject(new SessionWaitAbortedError('canceled while waiting for the embedded database'));
          };
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
          waiter.grant = () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
        }
        this.#holder?.contended?.();
      });
    } else {
      this.#holder = owner;
    }
    let released = false;
    const lease: SessionLease = {
      release: async ({ reset }) => {
        if (released) return;
        released = true;
        await this.#release(owner, reset);
      },
    };
    try {
      await this.#applySettings(owner.settings);
    } catch (err) {
      await lease.release({ reset: true });
      throw err;
    }
    return lease;
  }

  /** Rejects every waiter and refuses new ones; the holder (if any) finishes its turn. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.fail(new SessionClosedError('the embedded database is closing'));
  }

  async #release(owner: SessionOwner, reset: boolean): Promise<void> {
    try {
      if (!this.pglite.closed) {
        if (this.pglite.isInTransaction()) {
          this.#log(`${owner.label} left a transaction open; rolling it back`);
          await this.pglite.exec('rollback');
        }
        if (reset) {
          await this.pglite.exec('discard all');
          this.#appliedKey = '';
        }
      }
    } catch (err) {
      this.#log(`resetting the session after ${owner.label} failed: ${(err as Error).message}`);
    } finally {
      const next = this.#waiters.shift();
      this.#holder = next?.owner ?? null;
      next?.grant();
    }
  }

  async #applySettings(settings: ReadonlyMap<string, string>): Promise<void> {
    const wanted = await this.#nonDefault(settings);
    const key = settingsKey(wanted);
    if (key === this.#appliedKey) return;
    if (this.#appliedKey !== '') await this.pglite.exec('reset all');
    this.#appliedKey = '';
    if (wanted.size > 0) {
      // set_config with bound parameters: names and values come from clients.
      const params: string[] = [];
      const calls: string[] = [];
      for (const [name, value] of wanted) {
        calls.push(`set_config($${params.length + 1}, $${params.length + 2}, false)`);
        params.push(name, value);
      }
      await this.pglite.query(`select ${calls.join(', ')}`, params);
    }
    this.#appliedKey = key;
  }

  /** The settings whose value differs from what RESET gives (those need no statement). */
  async #nonDefault(settings: ReadonlyMap<string, string>): Promise<Map<string, string>> {
    const unknown = [...settings.keys()].map((n) => n.toLowerCase()).filter((n) => !this.#resetValues.has(n));
    if (unknown.length > 0) {
      const { rows } = await this.pglite.query<{ name: string; reset_val: string }>(
        'select lower(name) as name, reset_val from pg_settings where lower(name) = any($1::text[])',
        [unknown],
      );
      for (const n of unknown) this.#resetValues.set(n, null);
      for (const r of rows) this.#resetValues.set(r.name, r.reset_val);
    }
    const out = new Map<string, string>();
    for (const [name, value] of settings) {
      if (this.#resetValues.get(name.toLowerCase()) !== value) out.set(name, value);
    }
    return out;
  }
}

function settingsKey(settings: ReadonlyMap<string, string>): string {
  return settings.size === 0 ? '' : JSON.stringify([...settings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
