/**
 * Dynamic task mapping (Airflow's `partial().expand()` / `expand_kwargs()`): the pure rules. How
 * many instances a mapped task gets, which element each instance receives (Airflow's order for a
 * cross product), and what a pushed value must look like to be mapped over. No I/O: the compiler,
 * the workflow and the runTask activity all use these.
 */
import type { InputTemplate, Json, MapArgRef, MapSourceSpec, MappedSpec, XComRef } from '../spec/dag-spec.js';

/** Airflow's `[core] max_map_length` default. */
export const DEFAULT_MAX_MAP_LENGTH = 1024;

/** Airflow's UnmappableXComTypePushed: the value a mapped task expands over is not a list. */
export class UnmappableXComTypePushed extends Error {
  override readonly name = 'UnmappableXComTypePushed';
}

/** Airflow's UnmappableXComLengthPushed: the list is longer than max_map_length. */
export class UnmappableXComLengthPushed extends Error {
  override readonly name = 'UnmappableXComLengthPushed';
}

/** Airflow's XComForMappingNotPushed: the task a mapped task expands over returned nothing. */
export class XComForMappingNotPushed extends Error {
  override readonly name = 'XComForMappingNotPushed';
}

/** The JSON type name of a value, as an error message shows it. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'dict';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

/** Key under which a pushing task reports a mapped path's length (`map_lengths`). */
export function pathKey(path: readonly string[]): string {
  return JSON.stringify(path);
}

/** The value at `path` inside a JSON value (missing → undefined). */
export function pluckPath(value: Json | undefined, path: readonly string[]): Json | undefined {
  let current: Json | undefined = value;
  for (const key of path) {
    if (current === null || current === undefined || typeof current !== 'object') return undefined;
    current = Array.isArray(current) ? current[Number(key)] : current[key];
  }
  return current;
}

function sourceLabel(pusher: string, source: MapSourceSpec): string {
  const what = source.arg === null ? 'expandKwargs()' : `expand() argument "${source.arg}"`;
  const at = source.path.length > 0 ? ` at "${source.path.join('.')}"` : '';
  return `task "${source.consumer}" ${what} maps over the return value of "${pusher}"${at}`;
}

/**
 * Checks a pushed value against what a mapped consumer needs (run by the pushing task's try, as
 * Airflow's pushing task does) and returns the mapped list's length. Throws the Airflow error.
 */
export function checkMappable(
  pusher: string,
  returnValue: Json | undefined,
  source: MapSourceSpec,
  maxMapLength: number,
): number {
  if (returnValue === undefined) {
    throw new XComForMappingNotPushed(
      `task "${pusher}" returned nothing, but ${sourceLabel(pusher, source)}; return a list`,
    );
  }
  const value = pluckPath(returnValue, source.path);
  if (!Array.isArray(value)) {
    throw new UnmappableXComTypePushed(
      `${sourceLabel(pusher, source)}, which must be a list; got ${value === undefined ? 'nothing' : `unmappable type '${jsonTypeName(value)}'`}`,
    );
  }
  if (source.arg === null) {
    const bad = value.findIndex((v) => v === null || typeof v !== 'object' || Array.isArray(v));
    if (bad >= 0) {
      throw new UnmappableXComTypePushed(
        `${sourceLabel(pusher, source)}, which must be a list of dicts; item ${bad} has unmappable type '${jsonTypeName(value[bad])}'`,
      );
    }
  }
  if (value.length > maxMapLength) {
    throw new UnmappableXComLengthPushed(
      `task "${pusher}" pushed ${value.length} items, more than max_map_length (${maxMapLength}); ${sourceLabel(pusher, source)}`,
    );
  }
  return value.length;
}

/** A mapped task's sources in Airflow's key order: literal lists or XCom references. */
export function mappedSources(mapped: MappedSpec): Array<{ arg: string | null; source: InputTemplate }> {
  return mapped.kind === 'expand_kwargs'
    ? [{ arg: null, source: mapped.source }]
    : mapped.expand.map(([arg, source]) => ({ arg, source }));
}

export function isXComRef(value: InputTemplate): value is XComRef & { [k: string]: Json } {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    '$xcom' in value &&
    Object.keys(value).length === 1
  );
}

/** The number of instances: the product of the lengths (a cross product for several keys). */
export function expansionLength(lengths: readonly number[]): number {
  return lengths.reduce((a, b) => a * b, 1);
}

/**
 * Per-source element indices of instance `mapIndex`, Airflow's order (`_find_index_for_this_field`):
 * the last key varies fastest, i.e. itertools.product over the keys in declaration order.
 */
export function elementIndices(mapIndex: number, lengths: readonly number[]): number[] {
  const out = new Array<number>(lengths.length).fill(0);
  let rest = mapIndex;
  for (let k = lengths.length - 1; k >= 0; k--) {
    const n = lengths[k]!;
    out[k] = rest % n;
    rest = Math.floor(rest / n);
  }
  return out;
}

/**
 * The input template of instance `mapIndex`: the partial arguments plus each mapped key's element
 * (a literal element, or a reference to the element inside the upstream's XCom). For
 * expandKwargs the element's fields are merged over the partial arguments; an element only known
 * by reference is merged by the activity (`$merge`).
 */
export function instanceTemplate(
  mapped: MappedSpec,
  mapIndex: number,
  lengths: readonly number[],
  input: InputTemplate = null,
): InputTemplate {
  const idx = elementIndices(mapIndex, lengths);
  const element = (source: InputTemplate, i: number): InputTemplate => {
    if (Array.isArray(source)) return source[i] ?? null;
    if (isXComRef(source)) return { $xcom: { ...source.$xcom, path: [...source.$xcom.path, String(i)] } };
    return null; // not reachable: the compiler only emits lists and references
  };
  if (mapped.kind === 'group') {
    const args = new Map(mapped.expand.map(([arg, source], k) => [arg, element(source, idx[k]!)]));
    const inGroup = new Set(mapped.instance_upstream);
    return groupInstanceInput(input, args, inGroup, mapIndex);
  }
  const partial =
    mapped.partial !== null && typeof mapped.partial === 'object' && !Array.isArray(mapped.partial)
      ? mapped.partial
      : {};
  if (mapped.kind === 'expand') {
    const out: Record<string, Json> = { ...partial };
    mapped.expand.forEach(([arg, source], k) => {
      out[arg] = element(source, idx[k]!);
    });
    return out;
  }
  const el = element(mapped.source, idx[0]!);
  if (el !== null && typeof el === 'object' && !Array.isArray(el) && !isXComRef(el)) return { ...partial, ...el };
  return { $merge: [partial, el] };
}

/**
 * The aggregate state of a mapped task from its instances, for the run's result (Airflow computes
 * it over every leaf TI): failed if any failed, skipped if all skipped, else success.
 */
export function aggregateState(states: readonly string[]): 'success' | 'failed' | 'skipped' | 'upstream_failed' {
  if (states.some((s) => s === 'failed')) return 'failed';
  if (states.some((s) => s === 'upstream_failed')) return 'upstream_failed';
  if (states.length > 0 && states.every((s) => s === 'skipped')) return 'skipped';
  return 'success';
}

/**
 * A mapped-group member's input for one instance: `$map_arg` references become the instance's
 * element (a literal, or a reference into the upstream's list), and references to upstream tasks
 * of the same group point at the same map_index.
 */
function groupInstanceInput(
  template: InputTemplate,
  args: ReadonlyMap<string, InputTemplate>,
  inGroup: ReadonlySet<string>,
  mapIndex: number,
): InputTemplate {
  if (template === null || typeof template !== 'object') return template;
  if (Array.isArray(template)) return template.map((t) => groupInstanceInput(t, args, inGroup, mapIndex));
  const keys = Object.keys(template);
  if (keys.length === 1 && keys[0] === '$map_arg') {
    const ref = (template as unknown as MapArgRef).$map_arg;
    const el = args.get(ref.arg) ?? null;
    if (isXComRef(el)) return { $xcom: { ...el.$xcom, path: [...el.$xcom.path, ...ref.path] } };
    return ref.path.length === 0 ? el : (pluckPath(el, ref.path) ?? null);
  }
  if (isXComRef(template) && inGroup.has(template.$xcom.task_id))
    return { $xcom: { ...template.$xcom, map_index: mapIndex } };
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(template)) out[k] = groupInstanceInput(v, args, inGroup, mapIndex);
  return out;
}
