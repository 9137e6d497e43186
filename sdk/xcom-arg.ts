/**
 * XComArg: a reference to a task's output that is at the same time the graph edge (Airflow
 * ADR-0006). Binding an XComArg into a task's input makes the producing task an upstream.
 */
import type { Json } from '../spec/dag-spec.js';

const XCOM_ARG = Symbol.for('updraft.XComArg');

/** Anything that stands for a task in `chain()`: a task handle or one of its outputs. */
export interface TaskRef {
  readonly taskId: string;
}

export interface XComArg<T> extends TaskRef {
  readonly key: string;
  readonly path: readonly string[];
  /** A reference to one field of the output (`output["key"]` in Airflow). */
  get<K extends keyof T & string>(key: K): XComArg<T[K]>;
  /** Phantom marker carrying the value type; never read at run time. */
  readonly __type?: T;
}

/** The DAG that owns a reference, so references across DAGs are caught by the compiler. */
export interface XComArgInternal<T> extends XComArg<T> {
  /** `mapArg`: an argument of a mapped task group (its `taskId` is then the group id). */
  readonly [XCOM_ARG]: { owner: object; mapArg?: { group: string; arg: string } };
}

export function makeXComArg<T>(
  owner: object,
  taskId: string,
  key = 'return_value',
  path: readonly string[] = [],
  mapArg?: { group: string; arg: string },
): XComArg<T> {
  const arg: XComArgInternal<T> = {
    [XCOM_ARG]: { owner, ...(mapArg ? { mapArg } : {}) },
    taskId,
    key,
    path,
    get<K extends keyof T & string>(field: K): XComArg<T[K]> {
      return makeXComArg<T[K]>(owner, taskId, key, [...path, field], mapArg);
    },
  };
  return arg;
}

/** The mapped task group argument a reference stands for, if it is one. */
export function mapArgOf(value: XComArgInternal<unknown>): { group: string; arg: string } | undefined {
  return value[XCOM_ARG].mapArg;
}

export function isXComArg(value: unknown): value is XComArgInternal<unknown> {
  return typeof value === 'object' && value !== null && XCOM_ARG in value;
}

export function xcomArgOwner(value: XComArgInternal<unknown>): object {
  return value[XCOM_ARG].owner;
}

/** A value, a reference to a value, or an object/array whose leaves may be references. */
export type Bindable<T> =
  | T
  | XComArg<T>
  | (T extends readonly (infer E)[] ? readonly Bindable<E>[] : never)
  | (T extends Json[] ? never : T extends object ? { [K in keyof T]: Bindable<T[K]> } : never);
