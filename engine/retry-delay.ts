/**
 * How long a failed task instance waits before its next try: Airflow's
 * `TaskInstance.next_retry_datetime` (airflow-core/src/airflow/models/taskinstance.py, 3.x),
 * minus the `end_date +` part, which the workflow adds with its own clock.
 *
 * Version matched: Airflow 3.x (and 2.10+), where `try_number` is the number of the attempt that
 * just failed (1 for the first attempt) and the backoff base is `retry_delay * 2^(try_number-1)`,
 * so the first retry waits in [retry_delay, 2*retry_delay). Airflow 2.0–2.9 wrote
 * `2^(try_number-2)` with a try_number already incremented past the failed attempt: the same base,
 * but a different number in the hashed string. 2.x also hashed `execution_date` where 3.x hashes
 * `logical_date`; both render the same way.
 */
import { SemanticsInputError } from './errors.js';
import { sha1Hex } from './sha1.js';

/** `[core] max_task_retry_delay` default (abstractoperator.py `MAX_RETRY_DELAY`): one day. */
export const MAX_RETRY_DELAY_SECONDS = 86_400;

export interface RetryDelayInput {
  readonly dagId: string;
  readonly taskId: string;
  /**
   * The run's logical date as an ISO-8601 string (any offset; naive means UTC), or null for runs
   * without one (Airflow 3 manual runs), which Airflow hashes as the text `None`.
   */
  readonly logicalDate: string | null;
  /** Number of the attempt that just failed, 1-based (Airflow 3 `ti.try_number`). */
  readonly tryNumber: number;
  /** `retry_delay` in seconds (may be fractional). */
  readonly retryDelay: number;
  /** `retry_exponential_backoff`. */
  readonly exponentialBackoff: boolean;
  /**
   * `max_retry_delay` in seconds, or null. Applies only with exponential backoff, and like
   * Airflow's `if self.task.max_retry_delay:` a value of 0 means "no cap".
   */
  readonly maxRetryDelay: number | null;
}

/** Seconds to wait after the failed attempt ends before the next try may start. */
export function retryDelaySeconds(input: RetryDelayInput): number {
  const { tryNumber, retryDelay, maxRetryDelay } = input;
  if (!Number.isFinite(retryDelay) || retryDelay < 0) {
    throw new SemanticsInputError(
      `retryDelay: expected a finite number of seconds >= 0, got ${retryDelay}`,
      'retryDelay',
    );
  }
  if (!input.exponentialBackoff) return retryDelay;
  if (!Number.isInteger(tryNumber) || tryNumber < 1) {
    throw new SemanticsInputError(`tryNumber: expected an integer >= 1, got ${tryNumber}`, 'tryNumber');
  }
  if (maxRetryDelay !== null && (!Number.isFinite(maxRetryDelay) || maxRetryDelay < 0)) {
    throw new SemanticsInputError(
      `maxRetryDelay: expected null or a finite number of seconds >= 0, got ${maxRetryDelay}`,
      'maxRetryDelay',
    );
  }
  // Airflow: the min_backoff < 1 guard exists because retry_delay = 0 would divide by zero below.
  let minBackoff = Math.ceil(retryDelay * 2 ** (tryNumber - 1));
  if (minBackoff < 1) minBackoff = 1;

  let delay: number;
  if (minBackoff >= MAX_RETRY_DELAY_SECONDS) {
    // min_backoff + (hash % min_backoff) >= min_backoff >= the cap, so the hash cannot matter.
    // Short-circuiting also keeps 2^(try-1) overflow (Infinity) away from BigInt.
    delay = MAX_RETRY_DELAY_SECONDS;
  } else {
    const key = `${input.dagId}#${input.taskId}#${formatLogicalDateForHash(input.logicalDate)}#${tryNumber}`;
    const moddedHash = Number(BigInt(`0x${sha1Hex(key)}`) % BigInt(minBackoff));
    delay = Math.min(minBackoff + moddedHash, MAX_RETRY_DELAY_SECONDS);
  }
  if (maxRetryDelay) delay = Math.min(delay, maxRetryDelay);
  return delay;
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Renders a logical date the way Airflow's f-string does: `str(datetime)` of a UTC-aware datetime,
 * i.e. `YYYY-MM-DD HH:MM:SS+00:00`, with `.ffffff` only when microseconds are non-zero. The scheduler
 * reads `logical_date` from the database as a UTC datetime (UtcDateTime column), hence the space
 * separator and the `+00:00` offset whatever offset the input used. Null renders as `None`.
 */
export function formatLogicalDateForHash(logicalDate: string | null): string {
  if (logicalDate === null) return 'None';
  const m = ISO_RE.exec(logicalDate.trim());
  if (!m) {
    throw new SemanticsInputError(
      `logicalDate: expected an ISO-8601 date-time such as 2024-01-01T00:00:00+00:00, got ${JSON.stringify(logicalDate)}`,
      'logicalDate',
    );
  }
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', tz = 'Z'] = m;
  // Python keeps microseconds; JS Date keeps milliseconds. Carry the sub-second part separately.
  const micros = frac === '' ? 0 : Number(frac.slice(0, 6).padEnd(6, '0'));
  let offsetMinutes = 0;
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  // Date silently rolls 2024-02-30 over to March; Python rejects it, and so do we.
  const valid =
    date.getUTCMonth() === Number(mo) - 1 &&
    date.getUTCDate() === Number(d) &&
    Number(h) < 24 &&
    Number(mi) < 60 &&
    Number(s) < 60 &&
    Math.abs(offsetMinutes) < 24 * 60;
  if (!valid) {
    throw new SemanticsInputError(`logicalDate: not a valid date-time: ${JSON.stringify(logicalDate)}`, 'logicalDate');
  }
  date.setUTCHours(Number(h), Number(mi) - offsetMinutes, Number(s), 0);
  const text =
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)} ` +
    `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  return `${text}${micros === 0 ? '' : `.${pad(micros, 6)}`}+00:00`;
}
