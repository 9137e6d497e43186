/**
 * Cron expressions with the semantics of croniter, the library Airflow evaluates them with:
 * which expressions it accepts, how it expands them, and which wall-clock times match.
 *
 * Accepted (5 fields `min hour dom month dow`, or 6 with seconds last as croniter reads them):
 * `*`, numbers, ranges `a-b` (wrapping ones like `22-2`, `FRI-MON`, `NOV-FEB` too), steps `*\/n`,
 * `a-b/n`, `a/n`, lists, month and weekday names (JAN, MON; any case), `7` for Sunday, `?` for `*`
 * in the day fields, `L` in day-of-month (last day; `15-L`), `L5` in day-of-week (the last Friday
 * of the month: croniter writes L before the weekday and rejects Quartz's `5L`), `MON#1` / `5#3`
 * (nth weekday, 1-5), `15W` (nearest weekday), and the aliases @hourly @daily @weekly @monthly
 * @quarterly @yearly @annually @midnight.
 *
 * croniter's own rules that differ from other crons and are kept on purpose:
 * - day-of-month and day-of-week both restricted (neither expands to `*`) means either matches
 *   (`0 0 13 * FRI`: every 13th and every Friday), even when one is written `*\/2`;
 * - with `#`, `L5` or `W` in the expression, that part stays a condition on both sides of the OR,
 *   so `0 0 1 * MON#1` is the first Monday only;
 * - an equal range written as such (`6-6`, `JAN-JAN`) is the whole field, while `59/15` is 59;
 * - no match within 50 years of the start is an error (CronNoMatchError), e.g. `0 0 30 2 *`.
 *
 * Not accepted: croniter's hashed `H` (Airflow passes no hash id, so croniter rejects it too),
 * random `R` (not deterministic), and the 7-field form with a year.
 *
 * Times here are wall-clock readings (see zone.ts): croniter runs on naive datetimes in Airflow.
 */
import { CronNoMatchError, CronSyntaxError } from './errors.js';
import { daysInMonth, wallFields, wallOf } from './zone.js';

/** Airflow's cron_presets (exact spelling), applied before croniter's own aliases. */
export const AIRFLOW_CRON_PRESETS: Readonly<Record<string, string>> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@quarterly': '0 0 1 */3 *',
  '@yearly': '0 0 1 1 *',
};

/** croniter's aliases (matched case-insensitively). */
const CRONITER_ALIASES: Readonly<Record<string, string>> = {
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

const MINUTE = 0;
const HOUR = 1;
const DOM = 2;
const MONTH = 3;
const DOW = 4;
const SECOND = 5;
const FIELD_NAMES = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week', 'second'] as const;
const RANGES: ReadonlyArray<readonly [number, number]> = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
  [0, 59],
];
const LEN_MEANS_ALL = [60, 24, 31, 12, 7, 60];
const MAX_YEARS_BETWEEN_MATCHES = 50;

const MONTH_NAMES: Readonly<Record<string, number>> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};
const DOW_NAMES: Readonly<Record<string, number>> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

const WEEKDAYS = Object.keys(DOW_NAMES).join('|');
const MONTHS = Object.keys(MONTH_NAMES).join('|');
const SPECIAL_DOW = new RegExp(
  `^(?<pre>((?<he>((${WEEKDAYS})(-(${WEEKDAYS}))?)|((${MONTHS})(-(${MONTHS}))?)|[A-Za-z0-9_]+)#)|l)(?<last>\\d+)$`,
);
const NEAREST_WEEKDAY = /^(?:(\d+)w|w(\d+))$/;
const STEP_SEARCH = /^([^-]+)-([^-/]+)(\/(\d+))?$/;
const ONLY_INT = /^\d+$/;
const STAR_OR_INT = /^(\d+|\*)$/;
const HASHED = /^(h|r)(\((\d+)-(\d+)\))?(\/(\d+))?$/;
const FIELD_TOKEN = /[^ \t\n\r\f\v]+/g;

type Expanded = Array<number | 'l' | '*'>;
type Nth = number | 'l';

/** How a day is checked: both fields, or one side of croniter's day-of-month OR day-of-week. */
type DayMode = 'both' | 'dom_side' | 'dow_side';

interface TimeSets {
  hours: number[];
  minutes: number[];
  seconds: number[];
}

/** A parsed cron expression; `next`/`prev` work on wall-clock times (zone.ts). */
export class CronExpression {
  /** The expression as written. */
  readonly expression: string;
  /** After Airflow's presets (what Airflow stores and shows as the timetable summary). */
  readonly summary: string;
  /** 5, or 6 with seconds. */
  readonly fieldCount: 5 | 6;
  /**
   * croniter expands the hour field to `*` (every hour): Airflow then steps through a DST change
   * in absolute time (its `_covers_every_hour` "fold hour" workaround).
   */
  readonly coversEveryHour: boolean;

  private readonly months: ReadonlySet<number>;
  private readonly domValues: ReadonlySet<number>;
  private readonly domLast: boolean;
  private readonly domStar: boolean;
  private readonly dowValues: ReadonlySet<number>;
  private readonly dowStar: boolean;
  private readonly nth: ReadonlyMap<number, ReadonlySet<Nth>>;
  private readonly nearestWeekday: readonly number[];
  private readonly times: TimeSets;

  constructor(expression: string) {
    if (typeof expression !== 'string')
      throw new CronSyntaxError(`expected a cron expression string, got ${typeof expression}`, String(expression));
    this.expression = expression;
    this.summary = AIRFLOW_CRON_PRESETS[expression] ?? expression;
    const lower = this.summary.toLowerCase();
    const text = CRONITER_ALIASES[lower] ?? lower;
    const tokens = text.match(FIELD_TOKEN) ?? [];
    const bad = (why: string): never => {
      throw new CronSyntaxError(`invalid cron expression '${expression}': ${why}`, expression);
    };
    if (tokens.length === 7)
      bad('the 7-field form with a year is not supported (use 5 fields, or 6 with seconds last)');
    if (tokens.length !== 5 && tokens.length !== 6) {
      bad(
        `expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds last, or a preset such as @daily; got ${tokens.length === 0 ? 'nothing' : `${tokens.length} field${tokens.length === 1 ? '' : 's'}`}`,
      );
    }
    this.fieldCount = tokens.length as 5 | 6;
    const nth = new Map<number, Set<Nth>>();
    const nearest = new Set<number>();
    const expanded: Expanded[] = tokens.map((token, i) => expandField(i, token, tokens, nth, nearest, bad));
    if (nth.size > 0) {
      const dow = new Set(expanded[DOW]);
      const plain = [...dow].filter((v) => v !== '*' && !nth.has(v as number));
      if (plain.length > 0 && dow.size !== LEN_MEANS_ALL[DOW]) {
        bad(
          `day-of-week mixes plain days (${plain.join(', ')}) with nth-weekday syntax ('#' or 'L'), which croniter does not support`,
        );
      }
    }
    const star = (i: number): boolean => expanded[i]![0] === '*';
    const ints = (i: number): number[] => (expanded[i] ?? ['*']).filter((v): v is number => typeof v === 'number');
    const all = (i: number): number[] => {
      const [lo, hi] = RANGES[i]!;
      return Array.from({ length: hi - lo + 1 }, (_, k) => lo + k);
    };
    this.coversEveryHour = expanded[HOUR]!.length === 1 && expanded[HOUR]![0] === '*';
    this.months = new Set(star(MONTH) ? all(MONTH) : ints(MONTH));
    this.domStar = star(DOM);
    this.domValues = new Set(ints(DOM));
    this.domLast = expanded[DOM]!.includes('l');
    this.dowStar = star(DOW);
    this.dowValues = new Set(ints(DOW));
    this.nth = nth;
    this.nearestWeekday = [...nearest];
    this.times = {
      hours: star(HOUR) ? all(HOUR) : ints(HOUR),
      minutes: star(MINUTE) ? all(MINUTE) : ints(MINUTE),
      seconds: this.fieldCount === 5 ? [0] : star(SECOND) ? all(SECOND) : ints(SECOND),
    };
  }

  /** The first match strictly after `wall` (croniter's get_next on a naive datetime). */
  next(wall: number): number {
    return this.search(wall, false);
  }

  /** The last match strictly before `wall` (croniter's get_prev). */
  prev(wall: number): number {
    return this.search(wall, true);
  }

  private search(wall: number, backwards: boolean): number {
    if (!this.domStar && !this.dowStar) {
      // croniter's OR: each side on its own, the nearer wins. A side that never matches only
      // drops out when neither '#'/'L5' nor 'W' keeps a condition on both sides.
      const clean = this.nth.size === 0 && this.nearestWeekday.length === 0;
      const side = (mode: DayMode): number | undefined => {
        try {
          return this.scan(wall, backwards, mode);
        } catch (err) {
          if (clean && err instanceof CronNoMatchError) return undefined;
          throw err;
        }
      };
      const a = side('dom_side');
      const b = side('dow_side');
      if (a === undefined && b === undefined) throw this.noMatch(backwards);
      if (a === undefined) return b!;
      if (b === undefined) return a;
      return backwards ? Math.max(a, b) : Math.min(a, b);
    }
    return this.scan(wall, backwards, 'both');
  }

  private noMatch(backwards: boolean): CronNoMatchError {
    return new CronNoMatchError(
      `cron expression '${this.expression}' has no ${backwards ? 'earlier' : 'later'} fire time within ${MAX_YEARS_BETWEEN_MATCHES} years (e.g. a day the month never has)`,
      this.expression,
    );
  }

  /** Day by day from the start, skipping months that cannot match; croniter's 50-year bound. */
  private scan(wall: number, backwards: boolean, mode: DayMode): number {
    const unit = this.fieldCount === 6 ? 1000 : 60_000;
    const start = backwards ? Math.floor((wall - 1) / unit) * unit : Math.floor(wall / unit) * unit + unit;
    const s = wallFields(start);
    const firstYear = s.year;
    let { year, month, day } = s;
    let bound: [number, number, number] | null = [s.hour, s.minute, s.second];
    while (Math.abs(year - firstYear) <= MAX_YEARS_BETWEEN_MATCHES) {
      if (!this.months.has(month)) {
        if (backwards) {
          month -= 1;
          if (month === 0) [year, month] = [year - 1, 12];
          day = daysInMonth(year, month);
        } else {
          month += 1;
          if (month === 13) [year, month] = [year + 1, 1];
          day = 1;
        }
        bound = null;
        continue;
      }
      if (this.dayMatches(year, month, day, mode)) {
        const time = pickTime(this.times, bound, backwards);
        if (time) return wallOf(year, month, day, time[0], time[1], time[2]);
      }
      bound = null;
      if (backwards) {
        day -= 1;
        if (day === 0) {
          month -= 1;
          if (month === 0) [year, month] = [year - 1, 12];
          day = daysInMonth(year, month);
        }
      } else {
        day += 1;
        if (day > daysInMonth(year, month)) {
          month += 1;
          if (month === 13) [year, month] = [year + 1, 1];
          day = 1;
        }
      }
    }
    throw this.noMatch(backwards);
  }

  private dayMatches(year: number, month: number, day: number, mode: DayMode): boolean {
    const last = daysInMonth(year, month);
    let domOk: boolean;
    if (this.nearestWeekday.length > 0)
      domOk = this.nearestWeekday.some((w) => nearestWeekday(year, month, w, last) === day);
    else domOk = mode === 'dow_side' || this.domStar || this.domValues.has(day) || (this.domLast && day === last);
    if (!domOk) return false;
    if (this.nth.size > 0) return this.nthMatches(year, month, day, last);
    if (mode === 'dom_side' || this.dowStar) return true;
    return this.dowValues.has(wallFields(wallOf(year, month, day)).weekday);
  }

  private nthMatches(year: number, month: number, day: number, last: number): boolean {
    const firstWeekday = wallFields(wallOf(year, month, 1)).weekday;
    for (const [weekday, which] of this.nth) {
      const first = 1 + ((weekday - firstWeekday + 7) % 7);
      const count = Math.floor((last - first) / 7) + 1;
      for (const n of which) {
        if (n === 'l') {
          if (first + (count - 1) * 7 === day) return true;
        } else if (n <= count && first + (n - 1) * 7 === day) return true;
      }
    }
    return false;
  }
}

/** The first (or, backwards, last) time of day in the sets at or after (before) `bound`. */
function pickTime(
  times: TimeSets,
  bound: [number, number, number] | null,
  backwards: boolean,
): [number, number, number] | undefined {
  const hours = backwards ? [...times.hours].reverse() : times.hours;
  const minutes = backwards ? [...times.minutes].reverse() : times.minutes;
  const seconds = backwards ? [...times.seconds].reverse() : times.seconds;
  const key = (h: number, m: number, s: number): number => h * 3600 + m * 60 + s;
  const limit = bound ? key(...bound) : null;
  for (const h of hours) {
    if (limit !== null && (backwards ? key(h, 0, 0) > limit : key(h, 59, 59) < limit)) continue;
    for (const m of minutes) {
      if (limit !== null && (backwards ? key(h, m, 0) > limit : key(h, m, 59) < limit)) continue;
      for (const s of seconds) {
        const k = key(h, m, s);
        if (limit === null || (backwards ? k <= limit : k >= limit)) return [h, m, s];
      }
    }
  }
  return undefined;
}

/** croniter's nearest weekday (Mon-Fri) to `day`, staying inside the month. */
function nearestWeekday(year: number, month: number, target: number, last: number): number {
  const day = Math.min(target, last);
  const weekday = wallFields(wallOf(year, month, day)).weekday; // 0 = Sunday
  if (weekday >= 1 && weekday <= 5) return day;
  if (weekday === 6) return day > 1 ? day - 1 : day + 2;
  return day < last ? day + 1 : day - 2;
}

function alphaconv(field: number, key: string, bad: (why: string) => never): number | 'l' {
  if (field === DOM && key === 'l') return 'l';
  if (field === MONTH && key in MONTH_NAMES) return MONTH_NAMES[key]!;
  if (field === DOW && key in DOW_NAMES) return DOW_NAMES[key]!;
  const hint =
    field === DOW && /^\dl$/.test(key)
      ? ` (croniter writes the last given weekday of the month as 'L${key[0]}', e.g. 'L5' for the last Friday)`
      : field === DOW && key === 'l'
        ? " (in day-of-week, 'L' needs a weekday: 'L5' is the last Friday; 'L' alone belongs in day-of-month)"
        : field === MONTH
          ? ' (expected 1-12 or JAN-DEC)'
          : field === DOW
            ? ' (expected 0-7 or SUN-SAT)'
            : '';
  return bad(`'${key}' is not a valid ${FIELD_NAMES[field]} value${hint}`);
}

/** croniter's expansion of one field into values ('*' and 'l' kept as markers). */
function expandField(
  field: number,
  token: string,
  tokens: readonly string[],
  nth: Map<number, Set<Nth>>,
  nearest: Set<number>,
  bad: (why: string) => never,
): Expanded {
  const [lo, hi] = RANGES[field]!;
  const name = FIELD_NAMES[field]!;
  if (HASHED.test(token)) {
    bad(
      token.startsWith('r')
        ? `random values ('R') in the ${name} field are not supported: schedules must be deterministic`
        : `hashed values ('H') in the ${name} field need a hash id, which Airflow does not pass to croniter`,
    );
  }
  let expr = token;
  if (expr.includes('?')) {
    if (expr !== '?') bad(`'?' cannot be combined with other characters ('${token}')`);
    if (field !== DOM && field !== DOW)
      bad(`'?' is only allowed in day-of-month and day-of-week, not in the ${name} field`);
    expr = '*';
  }
  const pending: Array<string | number> = expr.split(',');
  const res: Expanded = [];
  const seen = new Set<string | number>();
  while (pending.length > 0) {
    let e: string | number = pending.pop()!;
    let nthValue: Nth | null = null;
    if (field === DOW) {
      const special = SPECIAL_DOW.exec(String(e));
      if (special) {
        const { he, last } = special.groups!;
        if (he) {
          e = he;
          const n = Number(last);
          if (!(n >= 1 && n <= 5)) bad(`'#${last}' in day-of-week: the nth weekday must be 1-5`);
          nthValue = n;
        } else if (last) {
          e = last;
          nthValue = 'l';
        }
      }
    }
    if (field === DOM) {
      const w = NEAREST_WEEKDAY.exec(String(e));
      if (w) {
        const wDay = Number(w[1] ?? w[2]);
        if (wDay < 1 || wDay > 31) bad(`nearest weekday day '${wDay}' is out of range 1-31`);
        if (pending.length > 0 || res.length > 0)
          bad(`'W' can only be used with a single day value, not in a list or range`);
        nearest.add(wDay);
        res.push(wDay);
        continue;
      }
    }
    let t = String(e).replace(/^\*(\/.+)$/, `${lo}-${hi}$1`);
    let m = STEP_SEARCH.exec(t);
    let startWithStep = false;
    if (!m) {
      t = String(e).replace(/^(.+)\/(.+)$/, `$1-${hi}/$2`);
      m = STEP_SEARCH.exec(t);
      startWithStep = m !== null;
    }
    if (m) {
      let low: string = m[1]!;
      let high: string = m[2]!;
      const stepText = m[4] ?? '1';
      if (field === DOM && high === 'l') high = '31';
      if (!ONLY_INT.test(low)) low = String(alphaconv(field, low, bad));
      if (!ONLY_INT.test(high)) high = String(alphaconv(field, high, bad));
      const step = Number(stepText);
      if (step === 0) bad(`step 0 in the ${name} field`);
      if (!ONLY_INT.test(low) || !ONLY_INT.test(high))
        bad(`range '${low}-${high}' in the ${name} field is not acceptable`);
      let a = alias(field, Number(low));
      let b = alias(field, Number(high));
      if (Math.max(a, b) > hi) bad(`'${String(e)}' is out of range ${lo}-${hi} for the ${name} field`);
      const startAtFieldMax = startWithStep && a === b;
      // An equal range written as one ("6-6", "JAN-JAN") is the whole cycle in croniter.
      if (a === b && !startWithStep) [a, b] = [lo, hi];
      let rng: number[];
      if (startAtFieldMax) rng = [a];
      else if (a > b) {
        // A wrapping range (22-2, FRI-MON): up to the field's end, then from its start, with
        // croniter's phase for the second half.
        rng = range(a, hi, step);
        let toSkip = 0;
        const lastValue = rng[rng.length - 1];
        if (lastValue !== undefined) {
          const alreadySkipped = hi - lastValue;
          const curpos = lastValue - lo;
          if (curpos + step > hi - lo + 1 && alreadySkipped < step) toSkip = step - alreadySkipped;
        }
        rng = rng.concat(range(lo + toSkip, b, step));
      } else rng = range(a, b, step);
      const items: Array<string | number> =
        field === DOW && nthValue !== null && nthValue !== 'l' ? rng.map((v) => `${v}#${nthValue}`) : rng;
      for (const item of items) if (!seen.has(item)) pending.push(item);
      for (const item of items) seen.add(item);
      continue;
    }
    if (t.startsWith('-')) bad(`negative numbers are not allowed ('${token}')`);
    let v: number | 'l' | '*';
    if (!STAR_OR_INT.test(t)) v = alphaconv(field, t, bad);
    else v = t === '*' ? '*' : Number(t);
    if (typeof v === 'number') v = alias(field, v);
    if (typeof v === 'number' && (v < lo || v > hi)) bad(`${v} is out of range ${lo}-${hi} for the ${name} field`);
    res.push(v);
    if (field === DOW && nthValue !== null && typeof v === 'number') {
      const set = nth.get(v) ?? new Set<Nth>();
      set.add(nthValue);
      nth.set(v, set);
    }
  }
  const unique = [...new Set(res)].sort((x, y) => sortKey(x).localeCompare(sortKey(y)));
  if (unique.length === LEN_MEANS_ALL[field]) {
    const keep = (field === DOM && !tokens[DOW]!.includes('*')) || (field === DOW && !tokens[DOM]!.includes('*'));
    if (!keep) return ['*'];
  }
  return unique.length === 1 && unique[0] === '*' ? ['*'] : unique;
}

function sortKey(v: number | 'l' | '*'): string {
  return typeof v === 'number' ? String(v).padStart(2, '0') : v;
}

function alias(field: number, v: number): number {
  return field === DOW && v === 7 ? 0 : v;
}

function range(from: number, toInclusive: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= toInclusive; v += step) out.push(v);
  return out;
}

const parsed = new Map<string, CronExpression>();

/** A parsed expression, cached (expressions are few and parsed on every scheduling step). */
export function cron(expression: string): CronExpression {
  let hit = parsed.get(expression);
  if (!hit) {
    hit = new CronExpression(expression);
    if (parsed.size > 1024) parsed.clear();
    parsed.set(expression, hit);
  }
  return hit;
}
