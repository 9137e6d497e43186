/**
 * Which names hold secrets. Airflow's DEFAULT_SENSITIVE_FIELDS, matched the same way: a name is
 * sensitive when its lower-cased form contains one of the words.
 */
import type { Json } from '../spec/dag-spec.js';

export const SENSITIVE_WORDS = [
  'access_token',
  'api_key',
  'apikey',
  'authorization',
  'passphrase',
  'passwd',
  'password',
  'private_key',
  'secret',
  'token',
  'keyfile_dict',
  'service_account',
] as const;

export function isSensitiveName(name: string): boolean {
  const lower = name.trim().toLowerCase();
  return SENSITIVE_WORDS.some((w) => lower.includes(w));
}

/** Every string under `value` (for a secret that is a whole JSON document). */
export function stringLeaves(value: Json, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number') out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) stringLeaves(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) stringLeaves(v, out);
  return out;
}

/** Strings under keys with sensitive names, at any depth (what Airflow masks in a connection's extra). */
export function sensitiveLeaves(value: Json, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) sensitiveLeaves(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (isSensitiveName(k)) stringLeaves(v, out);
      else sensitiveLeaves(v, out);
    }
  }
  return out;
}

/** A copy of `value` with values under sensitive keys replaced by `***` (for display). */
export function redactSensitive(value: Json): Json {
  if (Array.isArray(value)) return value.map(redactSensitive);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSensitiveName(k) ? '***' : redactSensitive(v)]),
    );
  }
  return value;
}
