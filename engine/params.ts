/**
 * Merging the param layers of a run, as Airflow does at trigger time: the DAG's params, each task's
 * params (they override the DAG's) and the run's conf (it overrides both). Pure; the compiler
 * (sdk/params.ts) extracts the layers and client/params.ts validates the merged values.
 */
import type { Json, ParamSpec } from '../spec/dag-spec.js';

export type ParamSource = 'params' | 'conf';

export interface ParamLayer {
  source: ParamSource;
  values: Record<string, Json>;
  specs?: Record<string, ParamSpec>;
  /** Names the layer in messages when its specs are not the DAG's (e.g. `task "train"`). */
  owner?: string;
}

export interface MergedParam {
  name: string;
  /** undefined: no layer gave a value (a param without default, not in conf). */
  value: Json | undefined;
  source: ParamSource;
  spec: ParamSpec | null;
  /** Who declared the spec (undefined: the DAG). */
  specOwner: string | undefined;
}

/**
 * Merges layers like Airflow's ParamsDict.update: a layer's spec replaces the param (schema and
 * value); a plain value keeps the param's schema and only replaces the value. Later layers win.
 */
export function mergeParams(layers: readonly ParamLayer[]): Map<string, MergedParam> {
  const merged = new Map<string, MergedParam>();
  for (const layer of layers) {
    const names = new Set([...Object.keys(layer.specs ?? {}), ...Object.keys(layer.values)]);
    for (const name of names) {
      const spec = layer.specs?.[name];
      const hasValue = Object.prototype.hasOwnProperty.call(layer.values, name);
      const previous = merged.get(name);
      if (spec) {
        merged.set(name, {
          name,
          value: hasValue ? layer.values[name] : undefined,
          source: layer.source,
          spec,
          specOwner: layer.owner,
        });
      } else if (hasValue) {
        merged.set(name, {
          name,
          value: layer.values[name],
          source: layer.source,
          spec: previous?.spec ?? null,
          specOwner: previous?.specOwner,
        });
      }
    }
  }
  return merged;
}

/** The plain values of merged params (what a task sees as ctx.params and `params` in templates). */
export function paramValues(merged: Map<string, MergedParam>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const p of merged.values()) if (p.value !== undefined) out[p.name] = p.value;
  return out;
}
