/**
 * The asset fields of a DAG spec: task outlets as Airflow's Asset() makes them, and the watchers
 * declared on the DAG's assets.
 */
import type { Fail } from './compile-fields.js';
import { collectAssetWatchers, isAsset } from './asset.js';
import { AssetDefinitionError, normalizeAsset, type AssetInput } from '../engine/assets/asset.js';
import type { AssetRef, DagSpec } from '../spec/dag-spec.js';

/** A task's outlets as Airflow's Asset() makes them (sanitized uri, name and group defaults). */
export function compileOutlets(outlets: unknown, f: (message: string, field: string) => never): AssetRef[] {
  if (outlets === undefined || outlets === null) return [];
  if (!Array.isArray(outlets)) return f(`expected an array of assets, got ${typeof outlets}`, 'outlets');
  return outlets.map((a: unknown, i) => {
    if (!a || typeof a !== 'object')
      f(
        `outlets[${i}] must be an asset (Asset('s3://bucket/path') or { uri }), got ${a === null ? 'null' : typeof a}`,
        'outlets',
      );
    try {
      return normalizeAsset(a as AssetInput, `outlets[${i}]`);
    } catch (err) {
      if (err instanceof AssetDefinitionError) return f(err.message, 'outlets');
      throw err;
    }
  });
}

/** The watchers declared on the DAG's assets (schedule first, then outlets); absent when none. */
export function assetWatchersField(
  schedule: unknown,
  outlets: readonly unknown[],
  fail: Fail,
): Pick<DagSpec, 'asset_watchers'> {
  const scheduled: unknown[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isAsset(v)) scheduled.push(v);
  };
  walk(schedule);
  try {
    const watchers = collectAssetWatchers([...scheduled, ...outlets]);
    return watchers.length > 0 ? { asset_watchers: watchers } : {};
  } catch (err) {
    if (err instanceof AssetDefinitionError) return fail(err.message, undefined, 'watchers');
    throw err;
  }
}
