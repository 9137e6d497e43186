/**
 * Result-value parsers shared by both drivers, so a row read through `pg` and the same row read
 * through PGlite are deep-equal. Each driver has its own defaults (pg returns int8 as a string and
 * `date` as a local-time Date; PGlite returns int8 as a number or bigint and `date` as a UTC Date),
 * so every type whose defaults differ is pinned here. Keys are Postgres type OIDs.
 */

export const PG_TYPE_OID = {
  INT8: 20,
  JSON: 114,
  DATE: 1082,
  TIMESTAMP: 1114,
  TIMESTAMPTZ: 1184,
  NUMERIC: 1700,
  JSONB: 3802,
} as const;

/**
 * int8 (bigint, bigserial, `count(*)`) as a JS number. A value outside the safe-integer range is
 * returned as its decimal string instead of being silently rounded; no column of ours gets there.
 */
export function parseInt8(text: string): number | string {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : text;
}

// ISO DateStyle output, e.g. `2026-11-23 10:00:00.123456+00`, `...+05:30`, `0044-03-15 ... BC`.
const TIMESTAMP_PATTERN =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/**
 * timestamptz / timestamp to Date (millisecond precision; Postgres keeps microseconds, JS cannot).
 * A timestamp without a zone is read as UTC. `infinity` becomes an invalid Date in both drivers
 * rather than a driver-specific sentinel.
 */
export function parseTimestamp(text: string): Date {
  if (text === 'infinity' || text === '-infinity') return new Date(NaN);
  const m = TIMESTAMP_PATTERN.exec(text);
  if (m === null) return new Date(NaN);
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os, bc] = m;
  let year = Number(y);
  if (bc !== undefined) year = 1 - year; // 1 BC is year 0 in the proleptic calendar.
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000 + 1e-6);
  const utc = new Date(0);
  utc.setUTCFullYear(year, Number(mo) - 1, Number(d));
  utc.setUTCHours(Number(h), Number(mi), Number(s), ms);
  let offsetSeconds = 0;
  if (sign !== undefined) {
    offsetSeconds = Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0);
    if (sign === '-') offsetSeconds = -offsetSeconds;
  }
  return new Date(utc.getTime() - offsetSeconds * 1000);
}

/** Parsers by OID; every other type keeps the driver's default (identical for the types we use). */
export const RESULT_PARSERS: Readonly<Record<number, (text: string) => unknown>> = {
  [PG_TYPE_OID.INT8]: parseInt8,
  [PG_TYPE_OID.JSON]: (text) => JSON.parse(text) as unknown,
  [PG_TYPE_OID.JSONB]: (text) => JSON.parse(text) as unknown,
  // A calendar date has no instant; keep `YYYY-MM-DD` rather than guess a time zone.
  [PG_TYPE_OID.DATE]: (text) => text,
  [PG_TYPE_OID.TIMESTAMP]: parseTimestamp,
  [PG_TYPE_OID.TIMESTAMPTZ]: parseTimestamp,
  // Arbitrary precision does not fit a double; both drivers return the exact decimal string.
  [PG_TYPE_OID.NUMERIC]: (text) => text,
};
