/**
 * A worker's slot requests, decided together: one transaction per round decides for every try of
 * the process that asks or waits (requestSlotsTogether; a round for a single try uses the single
 * decision and its fast path). A new request starts a round at once (or joins the next one when a
 * round is running), waiting tries get one every `pollMs`, and a slot given back in this process
 * starts one at once, so the freed slot goes to the next local waiter without a poll.
 *
 * Why: with each waiting try polling on its own, a worker's 200 activity slots meant ~1,000 locked
 * decisions a second on the pool's row, and tries spent more time queued on that lock than
 * running (a 10,000-instance mapped task took 400 s instead of ~150 s). Tries of other workers
 * are still ranked in every decision: a better-ranked waiter elsewhere keeps its place.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { GrantRequest } from '../../db/pool.repository.js';
import { TaskExecutionError } from '../executors/types.js';
import { grantKeyString, requestSlots, requestSlotsTogether, type SlotOutcome } from './slots.js';

type QueuedOutcome = Extract<SlotOutcome, { state: 'queued' }>;
export type FinalOutcome = Exclude<SlotOutcome, QueuedOutcome>;

export interface WaitOptions {
  signal: AbortSignal;
  /** The longest a waiting try goes without a decision. */
  pollMs: number;
  /** Each round the try is still queued (what blocks it; grants reclaimed on the way). */
  onQueued(outcome: QueuedOutcome): void;
}

interface Waiter {
  request: GrantRequest;
  options: WaitOptions;
  resolve(outcome: FinalOutcome): void;
  reject(err: Error): void;
  detach(): void;
}

export class SlotWaitList {
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private running = false;
  private rerun = false;

  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Asks for the try's slots and waits until they are granted, or its pool cannot serve it;
   * rejects when `signal` aborts (the caller withdraws or keeps the request).
   */
  wait(request: GrantRequest, options: WaitOptions): Promise<FinalOutcome> {
    return new Promise<FinalOutcome>((resolve, reject) => {
      const key = grantKeyString(request);
      if (options.signal.aborted) return reject(abortError());
      const onAbort = (): void => {
        if (this.waiters.get(key) === waiter) this.waiters.delete(key);
        reject(abortError());
      };
      const waiter: Waiter = {
        request,
        options,
        resolve,
        reject,
        detach: () => options.signal.removeEventListener('abort', onAbort),
      };
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.get(key)?.reject(new Error(`superseded by another wait of the same try (${key})`));
      this.waiters.set(key, waiter);
      // A new try is decided in the next round, which starts now unless one is running.
      this.schedule(0);
    });
  }

  /** Slots were given back in this process: decide for the waiting tries now. */
  wake(): void {
    if (this.waiters.size > 0) this.schedule(0);
  }

  get size(): number {
    return this.waiters.size;
  }

  private schedule(delayMs: number): void {
    if (this.running) {
      if (delayMs === 0) this.rerun = true;
      return;
    }
    const due = Date.now() + delayMs;
    if (this.timer !== undefined && this.timerDue <= due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = due;
    // Not unref'd: while a try waits, its next decision is work the process must stay up for (as
    // each waiting try's own sleep was); with nobody waiting no timer is set.
    this.timer = setTimeout(() => void this.round(), delayMs);
  }

  private async round(): Promise<void> {
    this.timer = undefined;
    this.timerDue = Infinity;
    this.running = true;
    this.rerun = false;
    const batch = [...this.waiters.values()];
    try {
      // One try alone takes the single decision, with its fast path for the uncontended case.
      const outcomes =
        batch.length === 1
          ? [await requestSlots(this.db, batch[0]!.request)]
          : await requestSlotsTogether(
              this.db,
              batch.map((w) => w.request),
            );
      batch.forEach((waiter, i) => this.settle(waiter, outcomes[i]!));
    } catch (err) {
      // A failed decision fails every try it was for, as each one's own request would have.
      for (const waiter of batch) this.drop(waiter, () => waiter.reject(err as Error));
    } finally {
      this.running = false;
    }
    if (this.waiters.size === 0) return;
    const pollMs = Math.min(...[...this.waiters.values()].map((w) => w.options.pollMs));
    this.schedule(this.rerun ? 0 : pollMs);
  }

  private settle(waiter: Waiter, outcome: SlotOutcome): void {
    // Aborted (or superseded) while the round ran: its own caller cleans up the request.
    if (this.waiters.get(grantKeyString(waiter.request)) !== waiter) return;
    if (outcome.state === 'queued') {
      try {
        waiter.options.onQueued(outcome);
      } catch (err) {
        this.drop(waiter, () => waiter.reject(err as Error));
      }
      return;
    }
    this.drop(waiter, () => waiter.resolve(outcome));
  }

  private drop(waiter: Waiter, settle: () => void): void {
    const key = grantKeyString(waiter.request);
    if (this.waiters.get(key) === waiter) this.waiters.delete(key);
    waiter.detach();
    settle();
  }
}

const lists = new WeakMap<Kysely<Database>, SlotWaitList>();

/** The process's wait list for `db` (one per database handle). */
export function slotWaitListFor(db: Kysely<Database>): SlotWaitList {
  let list = lists.get(db);
  if (!list) lists.set(db, (list = new SlotWaitList(db)));
  return list;
}

function abortError(): Error {
  return new TaskExecutionError('cancelled while waiting to be admitted', 'cancelled');
}
