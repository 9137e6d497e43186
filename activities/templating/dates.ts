/**
 * Airflow's date strings and macros, in UTC (dates are stored as UTC): ds, ts and friends, a
 * Python strftime/strptime subset, macros.ds_add and macros.ds_format, and the datetime object
 * templates see for logical_date (it prints like a pendulum DateTime). Pure.
 */

export class TemplateDateError extends Error {
  override readonly name = 'TemplateDateError';
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const STRFTIME_DIRECTIVES = ['%Y', '%y', '%m', '%d', '%H', '%M', '%S', '%j', '%b', '%a', '%%'] as const;

/** Python's `datetime.isoformat()` of a UTC datetime: microseconds only when non-zero. */
export function isoformat(d: Date): string {
  const ms = d.getUTCMilliseconds();
  return `${strftime(d, '%Y-%m-%dT%H:%M:%S')}${ms === 0 ? '' : `.${pad(ms, 3)}000`}+00:00`;
}

/** `ds`: YYYY-MM-DD. */
export function formatDs(d: Date): string {
  return strftime(d, '%Y-%m-%d');
}

/** `ds_nodash`: YYYYMMDD. */
export function formatDsNodash(d: Date): string {
  return strftime(d, '%Y%m%d');
}

/** `ts`: 2018-01-01T00:00:00+00:00. */
export function formatTs(d: Date): string {
  return isoformat(d);
}

/** `ts_nodash`: 20180101T000000. */
export function formatTsNodash(d: Date): string {
  return strftime(d, '%Y%m%dT%H%M%S');
}

/** `ts_nodash_with_tz`: ts without '-' and ':' (20180101T000000+0000). */
export function formatTsNodashWithTz(d: Date): string {
  return isoformat(d).replace(/[-:]/g, '');
}

function dayOfYear(d: Date): number {
  return (
    Math.floor(
      (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000,
    ) + 1
  );
}

/** Python strftime for the directives in STRFTIME_DIRECTIVES; others fail naming them. */
export function strftime(d: Date, format: string): string {
  return format.replace(/%(.)/g, (whole, c: string) => {
    switch (c) {
      case 'Y':
        return pad(d.getUTCFullYear(), 4);
      case 'y':
        return pad(d.getUTCFullYear() % 100);
      case 'm':
        return pad(d.getUTCMonth() + 1);
      case 'd':
        return pad(d.getUTCDate());
      case 'H':
        return pad(d.getUTCHours());
      case 'M':
        return pad(d.getUTCMinutes());
      case 'S':
        return pad(d.getUTCSeconds());
      case 'j':
        return pad(dayOfYear(d), 3);
      case 'b':
        return MONTHS[d.getUTCMonth()]!;
      case 'a':
        return DAYS[d.getUTCDay()]!;
      case '%':
        return '%';
      default:
        throw unsupported(whole, format);
    }
  });
}

function unsupported(directive: string, format: string): TemplateDateError {
  return new TemplateDateError(
    `unsupported directive ${directive} in "${format}" (supported: ${STRFTIME_DIRECTIVES.join(' ')})`,
  );
}

/** Python strptime for the same directives; the result is UTC. */
export function strptime(text: string, format: string): Date {
  const fail = (why: string): never => {
    throw new TemplateDateError(`"${text}" does not match format "${format}": ${why}`);
  };
  let pos = 0;
  const fields = { year: 1900, month: 1, day: 1, hour: 0, minute: 0, second: 0, yday: null as number | null };
  const digits = (min: number, max: number, name: string): number => {
    const m = new RegExp(`^\\d{${min},${max}}`).exec(text.slice(pos));
    if (!m) return fail(`expected ${name} at position ${pos + 1}`);
    pos += m[0].length;
    return Number(m[0]);
  };
  const word = (names: string[], name: string): number => {
    const next = text.slice(pos, pos + 3).toLowerCase();
    const i = names.findIndex((n) => n.toLowerCase() === next);
    if (i < 0) return fail(`expected ${name} at position ${pos + 1}`);
    pos += 3;
    return i;
  };
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%') {
      if (text[pos] !== ch) fail(`expected "${ch}" at position ${pos + 1}`);
      pos++;
      continue;
    }
    const c = format[++i];
    switch (c) {
      case 'Y':
        fields.year = digits(4, 4, 'a 4-digit year');
        break;
      case 'y': {
        // Python's pivot: 69-99 are 1969-1999, 00-68 are 2000-2068.
        const yy = digits(2, 2, 'a 2-digit year');
        fields.year = yy < 69 ? 2000 + yy : 1900 + yy;
        break;
      }
      case 'm':
        fields.month = digits(1, 2, 'a month');
        break;
      case 'd':
        fields.day = digits(1, 2, 'a day');
        break;
      case 'H':
        fields.hour = digits(1, 2, 'an hour');
        break;
      case 'M':
        fields.minute = digits(1, 2, 'a minute');
        break;
      case 'S':
        fields.second = digits(1, 2, 'a second');
        break;
      case 'j':
        fields.yday = digits(1, 3, 'a day of the year');
        break;
      case 'b':
        fields.month = word(MONTHS, 'a month name like Jan') + 1;
        break;
      case 'a':
        word(DAYS, 'a weekday name like Mon');
        break;
      case '%':
        if (text[pos] !== '%') fail(`expected "%" at position ${pos + 1}`);
        pos++;
        break;
      default:
        throw unsupported(`%${c ?? ''}`, format);
    }
  }
  if (pos !== text.length) fail(`unconverted data remains: "${text.slice(pos)}"`);
  if (fields.month < 1 || fields.month > 12) fail(`month ${fields.month} is out of range`);
  if (fields.hour > 23 || fields.minute > 59 || fields.second > 61) fail('time is out of range');
  let ms = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
  if (fields.yday !== null) ms = Date.UTC(fields.year, 0, fields.yday, fields.hour, fields.minute, fields.second);
  const d = new Date(ms);
  if (fields.yday === null && d.getUTCDate() !== fields.day) fail(`day ${fields.day} is out of range for the month`);
  return d;
}

/** `macros.ds_add('2015-01-01', 5)` → '2015-01-06' (negative days go back). */
export function dsAdd(ds: unknown, days: unknown): string {
  const n = Number(days);
  if (!Number.isInteger(n))
    throw new TemplateDateError(`macros.ds_add: days must be an integer, got ${JSON.stringify(days)}`);
  const d = parseDs(ds, 'macros.ds_add');
  return formatDs(new Date(d.getTime() + n * 86_400_000));
}

/** `macros.ds_format('2015-01-01', '%Y-%m-%d', '%m-%d-%y')`: re-formats a date string. */
export function dsFormat(ds: unknown, inputFormat: unknown, outputFormat: unknown): string {
  if (typeof inputFormat !== 'string' || typeof outputFormat !== 'string') {
    throw new TemplateDateError('macros.ds_format(ds, input_format, output_format): both formats must be strings');
  }
  try {
    return strftime(strptime(String(ds), inputFormat), outputFormat);
  } catch (err) {
    throw new TemplateDateError(`macros.ds_format: ${(err as Error).message}`);
  }
}

function parseDs(ds: unknown, where: string): Date {
  const text = String(ds);
  try {
    return strptime(text, '%Y-%m-%d');
  } catch {
    throw new TemplateDateError(`${where}: expected a date like 2025-01-31, got ${JSON.stringify(ds)}`);
  }
}

/**
 * A datetime as templates see it (logical_date, data_interval_start, ...): prints as ISO 8601
 * like pendulum, with Python's attributes and strftime/isoformat methods.
 */
export class TemplateDateTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly microsecond: number;

  constructor(readonly date: Date) {
    this.year = date.getUTCFullYear();
    this.month = date.getUTCMonth() + 1;
    this.day = date.getUTCDate();
    this.hour = date.getUTCHours();
    this.minute = date.getUTCMinutes();
    this.second = date.getUTCSeconds();
    this.microsecond = date.getUTCMilliseconds() * 1000;
  }

  strftime(format: string): string {
    return strftime(this.date, format);
  }

  isoformat(): string {
    return isoformat(this.date);
  }

  /** Seconds since the epoch (Python's datetime.timestamp()). */
  timestamp(): number {
    return this.date.getTime() / 1000;
  }

  toString(): string {
    return isoformat(this.date);
  }

  toJSON(): string {
    return isoformat(this.date);
  }
}

/** A datetime from a TemplateDateTime, a Date or an ISO string (what the ds/ts filters take). */
export function toDate(value: unknown, where: string): Date {
  if (value instanceof TemplateDateTime) return value.date;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  if (typeof value === 'string') {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new TemplateDateError(
    `${where}: expected a datetime, got ${value === undefined ? 'undefined' : JSON.stringify(value)}`,
  );
}
