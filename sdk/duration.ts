/**
 * Durations in DAG files: a number of seconds (Airflow's timedelta, serialised as seconds) or a
 * string such as '30s', '5m', '2 hours', '1.5h', '500ms', '1 day'. The spec always stores seconds.
 */
export type Duration = number | string;

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ms: 0.001,
  millisecond: 0.001,
  milliseconds: 0.001,
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  w: 604800,
  week: 604800,
  weeks: 604800,
};

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

/** Parses a Duration into seconds. Throws DurationError with a message naming what was expected. */
export function toSeconds(value: Duration): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new DurationError(`expected a non-negative number of seconds, got ${String(value)}`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new DurationError(`expected a number of seconds or a string like '5 minutes', got ${typeof value}`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?\s*$/.exec(value);
  if (!match) {
    throw new DurationError(`expected a duration like '30s', '5 minutes' or '2h', got '${value}'`);
  }
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  const factor = UNIT_SECONDS[unit];
  if (factor === undefined) {
    throw new DurationError(`unknown unit '${match[2] ?? ''}' in duration '${value}' (use ms, s, m, h, d or w)`);
  }
  return amount * factor;
}

/** Formats seconds for humans: 0.42s, 12s, 3m 5s, 2h 0m. */
export function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(seconds < 1 ? 3 : 2).replace(/\.?0+$/, '')}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
