/**
 * Small field checks the compiler's steps share. A failing check throws through `Fail`, which
 * names the DAG, the task and the field.
 */
import { toSeconds, type Duration } from './duration.js';

/** Throws the DagDefinitionError for a field; `taskId` undefined means a DAG-level field. */
export type Fail = (message: string, taskId?: string, field?: string) => never;

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function durationField(value: Duration, field: string, f: (m: string, field: string) => never): number {
  try {
    return toSeconds(value);
  } catch (err) {
    return f((err as Error).message, field);
  }
}

export function duration(value: Duration, field: string, fail: Fail): number {
  return durationField(value, field, (m, fld) => fail(m, undefined, fld));
}

export function positiveInt(value: number, field: string, fail: Fail): number {
  if (!Number.isInteger(value) || value < 1)
    return fail(`expected a positive integer, got ${String(value)}`, undefined, field);
  return value;
}
