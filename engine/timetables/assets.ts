/**
 * Asset conditions (Airflow's `schedule=[a, b]`, `a & (b | c)`): checking a condition as written
 * in a spec, and evaluating it against the assets updated since the DAG's last data-aware run.
 * Pure; the runtime that records events and starts runs is not built yet.
 */
import type { AssetConditionSpec } from '../../spec/dag-spec.js';
import { TimetableError } from './errors.js';

/** The asset uris a condition names, in first-seen order. */
export function assetUris(condition: AssetConditionSpec): string[] {
  const out = new Set<string>();
  const walk = (c: AssetConditionSpec): void => {
    if (c.type === 'asset') out.add(c.uri);
    else for (const x of c.conditions) walk(x);
  };
  walk(condition);
  return [...out];
}

/**
 * Checks a condition's shape: assets with a non-empty uri, `all`/`any` with at least one member.
 * Throws TimetableError (field 'schedule') with the path of the bad part, e.g.
 * `schedule.conditions[1]: 'any' needs at least one asset or condition`.
 */
export function checkAssetCondition(value: unknown, path = 'schedule'): AssetConditionSpec {
  const bad = (why: string): never => {
    throw new TimetableError(`${path}: ${why}`, 'schedule');
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return bad(`expected an asset or an asset condition, got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  if (v.type === 'asset') {
    if (typeof v.uri !== 'string' || v.uri.trim().length === 0) bad('an asset needs a non-empty uri');
    const name = typeof v.name === 'string' && v.name.length > 0 ? v.name : (v.uri as string);
    return { type: 'asset', uri: v.uri as string, name };
  }
  if (v.type === 'all' || v.type === 'any') {
    if (!Array.isArray(v.conditions) || v.conditions.length === 0)
      bad(`'${v.type}' needs at least one asset or condition (a condition that names nothing never fires)`);
    return {
      type: v.type,
      conditions: (v.conditions as unknown[]).map((c, i) => checkAssetCondition(c, `${path}.conditions[${i}]`)),
    };
  }
  return bad(`unknown asset condition type ${describe(v.type)} (expected 'asset', 'all' or 'any')`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `'${v}'` : typeof v;
}

/**
 * Whether a condition is satisfied by the assets updated (at least once) since the last run:
 * an asset by its uri, `all` when every member is, `any` when one is (Airflow's evaluate()).
 */
export function evaluateAssetCondition(condition: AssetConditionSpec, updated: ReadonlySet<string>): boolean {
  switch (condition.type) {
    case 'asset':
      return updated.has(condition.uri);
    case 'all':
      return condition.conditions.every((c) => evaluateAssetCondition(c, updated));
    case 'any':
      return condition.conditions.some((c) => evaluateAssetCondition(c, updated));
  }
}

/** Airflow's summary of a condition, for display: `a & (b | c)`. */
export function formatAssetCondition(condition: AssetConditionSpec): string {
  const fmt = (c: AssetConditionSpec, nested: boolean): string => {
    if (c.type === 'asset') return c.uri;
    const inner = c.conditions.map((x) => fmt(x, true)).join(c.type === 'all' ? ' & ' : ' | ');
    return nested && c.conditions.length > 1 ? `(${inner})` : inner;
  };
  return fmt(condition, false);
}
