/**
 * Time-zone arithmetic on IANA names through Intl (the runtime's ICU data; no tz database of our
 * own), with pendulum's rules where a wall-clock time is ambiguous or missing, as Airflow's
 * `make_aware` applies them:
 * - a time that occurs twice (clocks go back) is the second occurrence (Airflow sets fold=1);
 * - a time that does not exist (clocks go forward) moves forward by the gap (02:30 → 03:30).
 *
 * Instants are epoch milliseconds. A "wall" time is the local calendar reading encoded as epoch
 * milliseconds of the same reading in UTC, so calendar fields come from getUTC*() and naive
 * arithmetic (croniter's) is plain addition.
 */
import { TimetableError } from './errors.js';

const DAY_MS = 86_400_000;

/** A zone: an IANA name ('Europe/Amsterdam', 'UTC') or a fixed offset ('+01:00', '-05:30'). */
export interface Zone {
  readonly name: string;
  /** UTC offset in milliseconds at an instant. */
  offsetAt(instant: number): number;
}

const FIXED = /^([+-])(\d{2}):?(\d{2})$/;
const cache = new Map<string, Zone>();

/** The zone with this name; throws TimetableError for a name the runtime does not know. */
export function zone(name: string): Zone {
  const hit = cache.get(name);
  if (hit) return hit;
  const made = makeZone(name);
  cache.set(name, made);
  return made;
}

/** Undefined when `name` is a zone this runtime knows, else what is wrong with it. */
export function zoneProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0)
    return `expected an IANA time zone name like 'Europe/Amsterdam' or 'UTC', got ${JSON.stringify(name)}`;
  try {
    zone(name);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function makeZone(name: string): Zone {
  const fixed = FIXED.exec(name);
  if (fixed) {
    const hours = Number(fixed[2]);
    const minutes = Number(fixed[3]);
    if (hours > 23 || minutes > 59)
      throw new TimetableError(`time zone '${name}': offset out of range (expected ±HH:MM up to ±23:59)`, 'timezone');
    const offset = (fixed[1] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
    return { name, offsetAt: () => offset };
  }
  if (/^(utc|etc\/utc|z)$/i.test(name)) return { name, offsetAt: () => 0 };
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
  } catch {
    throw new TimetableError(
      `unknown time zone '${name}' (expected an IANA name such as 'Europe/Amsterdam', 'America/New_York' or 'UTC', or a fixed offset such as '+01:00')`,
      'timezone',
    );
  }
  // One offset per zone and second; schedules ask for the same few instants over and over.
  const memo = new Map<number, number>();
  return {
    name,
    offsetAt(instant: number): number {
      const second = Math.floor(instant / 1000) * 1000;
      const known = memo.get(second);
      if (known !== undefined) return known;
      const parts: Record<string, string> = {};
      for (const p of format.formatToParts(new Date(second))) parts[p.type] = p.value;
      let year = Number(parts.year);
      if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
      const wall = Date.UTC(
        year,
        Number(parts.month) - 1,
        Number(parts.day),
        Number(parts.hour),
        Number(parts.minute),
        Number(parts.second),
      );
      const offset = wall - second;
      if (memo.size > 4096) memo.clear();
      memo.set(second, offset);
      return offset;
    },
  };
}

/** The wall-clock reading of an instant in a zone (Airflow's make_naive). */
export function toWall(z: Zone, instant: number): number {
  return instant + z.offsetAt(instant);
}

/**
 * The instant of a wall-clock reading in a zone (Airflow's make_aware, which sets fold=1): the
 * later instant when the reading occurs twice, the reading moved forward by the gap when it does
 * not occur at all.
 */
export function fromWall(z: Zone, wall: number): number {
  const before = z.offsetAt(wall - DAY_MS);
  const after = z.offsetAt(wall + DAY_MS);
  if (before === after) {
    const guess = wall - before;
    if (z.offsetAt(guess) === before) return guess;
  }
  const candidates: number[] = [];
  for (const offset of new Set([before, after, z.offsetAt(wall - before), z.offsetAt(wall - after)])) {
    const instant = wall - offset;
    if (z.offsetAt(instant) === offset) candidates.push(instant);
  }
  if (candidates.length > 0) return Math.max(...candidates);
  // In a gap: read with the offset in force before the transition, i.e. move forward by the gap.
  return wall - before;
}

/** Calendar fields of a wall time (month 1-12, weekday 0 = Sunday as cron counts). */
export interface WallFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

export function wallFields(wall: number): WallFields {
  const d = new Date(wall);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

export function wallOf(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** Days in a month (month 1-12), leap years included. */
export function daysInMonth(year: number, month: number): number {
  return wallFields(wallOf(year, month + 1, 0)).day;
}
