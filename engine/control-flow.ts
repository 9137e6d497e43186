/**
 * Control-flow decisions, pure: which direct downstream tasks a branch follows, whether a
 * short-circuit result is falsy, and which tasks a control task skips (Airflow's
 * SkipMixin.skip_all_except and ShortCircuitOperator). The compiler wraps branch functions with
 * `branchTargets` so a bad id fails the branch task itself; the interpreter uses the rest.
 */
import type { Json } from '../spec/dag-spec.js';

/** A branch function returned something it may not follow; fails the branch task. */
export class BranchError extends Error {
  override readonly name = 'BranchError';
}

/**
 * The task ids a branch result follows, validated: a string, an array of strings, or
 * null/undefined (follow none). Ids must be direct downstream tasks; an id of a task group whose
 * roots are direct downstream stands for those roots (`groups`, group id → root ids).
 */
export function branchTargets(
  taskId: string,
  value: unknown,
  direct: readonly string[],
  groups: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  if (value === null || value === undefined) return [];
  const ids: unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [value];
  if (typeof value !== 'string' && !Array.isArray(value)) {
    throw new BranchError(
      `branch task "${taskId}" returned ${describe(value)}; expected a task id, a list of task ids, or null to skip every direct downstream task`,
    );
  }
  const valid = new Set(direct);
  const out = new Set<string>();
  for (const id of ids) {
    if (typeof id !== 'string') {
      throw new BranchError(
        `branch task "${taskId}" returned a list holding ${describe(id)}; every entry must be a task id (a string)`,
      );
    }
    if (valid.has(id)) {
      out.add(id);
    } else if (Object.prototype.hasOwnProperty.call(groups, id)) {
      for (const root of groups[id]!) out.add(root);
    } else {
      const choices = [...direct, ...Object.keys(groups)].sort();
      throw new BranchError(
        `branch task "${taskId}" returned unknown task id "${id}"; a branch may follow only its direct downstream tasks` +
          (choices.length > 0 ? `: ${choices.join(', ')}` : ' (it has none)') +
          ' (or return null to skip them all)',
      );
    }
  }
  return [...out];
}

/** JavaScript truthiness of an XCom value (a task's return value), as a short-circuit reads it. */
export function isTruthy(value: Json | undefined): boolean {
  return Boolean(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The interpreter's reading of a branch result: like `branchTargets`, but it never throws. The
 * compiled branch function already failed the task on a bad result; a mismatch here means the
 * DAG file changed since the run started, and the run's own spec wins (unknown ids follow nothing).
 */
export function branchFollow(
  value: Json | undefined,
  direct: readonly string[],
  groups: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  const ids = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const valid = new Set(direct);
  const out = new Set<string>();
  for (const id of ids) {
    if (typeof id !== 'string') continue;
    if (valid.has(id)) out.add(id);
    else if (Object.prototype.hasOwnProperty.call(groups, id)) for (const root of groups[id]!) out.add(root);
  }
  return [...out];
}
