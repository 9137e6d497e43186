/**
 * The wait before a sensor's next poke: Airflow's BaseSensorOperator._get_next_poke_interval.
 * Without exponential backoff it is poke_interval. With it, poke n waits
 * b + (sha1("dag#task#started_at#n") mod b) for b = max(int(poke_interval · 2^(n−2)), 1), capped
 * by the time left before the timeout and by max_wait. In reschedule mode each poke is a fresh
 * activity, so n is recovered as Airflow does: the number of backoff steps that fit in the time
 * elapsed since the sensor started.
 */
import { sha1Hex } from '../../engine/sha1.js';

export interface PokeIntervalInput {
  dagId: string;
  taskId: string;
  /** When the sensor first started (hashed, so the jitter is deterministic per task instance). */
  startedAt: string;
  /** 1 for the first poke of this (poke-mode) execution. */
  pokeCount: number;
  /** Seconds since the sensor first started. */
  runDuration: number;
  pokeInterval: number;
  timeout: number;
  exponentialBackoff: boolean;
  maxWait: number | null;
  reschedule: boolean;
}

/** Seconds until the next poke. */
export function nextPokeInterval(x: PokeIntervalInput): number {
  if (!x.exponentialBackoff) return x.pokeInterval;
  let pokeCount = x.pokeCount;
  if (x.reschedule) {
    // Airflow simulates the backoff sequence until it passes the elapsed time.
    let cumulative = 0;
    let estimated = 0;
    while (cumulative <= x.runDuration) {
      estimated++;
      cumulative += backoff(x, estimated);
      if (estimated > 10_000) break; // poke_interval 0 and a huge runDuration: stop counting
    }
    pokeCount = estimated;
  }
  let interval = Math.min(x.timeout - Math.trunc(x.runDuration), backoff(x, pokeCount));
  if (x.maxWait) interval = Math.min(x.maxWait, interval);
  return Math.max(0, interval);
}

function backoff(x: PokeIntervalInput, pokeCount: number): number {
  const minBackoff = Math.max(Math.trunc(x.pokeInterval * 2 ** (pokeCount - 2)), 1);
  if (!Number.isFinite(minBackoff) || minBackoff > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  const hash = BigInt(`0x${sha1Hex(`${x.dagId}#${x.taskId}#${x.startedAt}#${pokeCount}`)}`);
  return minBackoff + Number(hash % BigInt(minBackoff));
}
