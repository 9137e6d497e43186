/**
 * The compiler's mapping steps: partial().expand() / expandKwargs() on a task and `expand` on a
 * mapped task group, validated and turned into MappedSpecs; the tasks whose output is mapped over
 * learn it (map_sources) so their tries check the pushed value.
 */
import type { Fail } from './compile-fields.js';
import type { DeclaredGroup, DeclaredTask } from './task.js';
import { isXComArg, mapArgOf } from './xcom-arg.js';
import { isXComRef, mappedSources } from '../engine/mapping.js';
import type { InputTemplate, MappedSpec, TaskSpec } from '../spec/dag-spec.js';

/**
 * partial().expand() / expandKwargs() → MappedSpec, validated: expand() values are literal lists
 * or task outputs, expandKwargs() takes a list of objects or a task output, mapped and partial
 * arguments do not overlap, and mapping is not combined with what it is not built for.
 */
export function compileMappings(
  tasks: readonly DeclaredTask[],
  byId: ReadonlyMap<string, DeclaredTask>,
  memberOf: ReadonlyMap<string, DeclaredGroup>,
  template: (value: unknown, path: string[], t: DeclaredTask) => InputTemplate,
  fail: Fail,
): Map<string, MappedSpec> {
  const out = new Map<string, MappedSpec>();
  for (const t of tasks) {
    const m = t.mapping;
    if (m === undefined) continue;
    const f = (message: string, field: string): never => fail(message, t.taskId, field);
    if (t.control) f(`a ${t.control.type.replace('_', '-')} task cannot be mapped (not built)`, 'expand');
    if (t.setup || t.teardown !== null) f('setup and teardown tasks cannot be mapped (not built)', 'expand');
    const partial = m.partial ?? {};
    if (typeof partial !== 'object' || Array.isArray(partial) || isXComArg(partial))
      f('partial() takes an object of fixed arguments', 'partial');
    const fixed = template(partial, ['partial'], t);
    const source = (value: unknown, path: string[], field: string, kwargs: boolean): InputTemplate => {
      if (isXComArg(value)) {
        const pusher = byId.get(value.taskId);
        if (pusher?.mapping !== undefined || (pusher !== undefined && memberOf.has(pusher.taskId))) {
          f(
            `${path.join('.')} maps over the output of mapped task "${value.taskId}" (mapping over a mapped task's results is not built)`,
            field,
          );
        }
        if ((t.options.triggerRule as string | undefined) === 'always') {
          f(
            'trigger rule "always" is not allowed on a task mapped over another task\'s output (Airflow forbids it)',
            'triggerRule',
          );
        }
        return template(value, path, t);
      }
      if (!Array.isArray(value))
        f(
          `${path.join('.')} must be a list or a task output (XComArg), got ${value === null ? 'null' : typeof value}`,
          field,
        );
      const list = value as unknown[];
      if (kwargs) {
        list.forEach((item, i) => {
          if (item === null || typeof item !== 'object' || Array.isArray(item) || isXComArg(item)) {
            f(
              `${path.join('.')}[${i}] must be an object of arguments, got ${item === null ? 'null' : Array.isArray(item) ? 'a list' : typeof item}`,
              field,
            );
          }
        });
      }
      return template(list, path, t);
    };
    if (m.expandKwargs !== undefined) {
      out.set(t.taskId, {
        kind: 'expand_kwargs',
        partial: fixed,
        source: source(m.expandKwargs, ['expandKwargs'], 'expandKwargs', true),
      });
      continue;
    }
    const args = m.expand ?? {};
    if (typeof args !== 'object' || Array.isArray(args) || isXComArg(args))
      f('expand() takes an object: { argument: list | task output }', 'expand');
    const keys = Object.keys(args).filter((k) => args[k] !== undefined);
    if (keys.length === 0) f('expand() needs at least one argument to map over', 'expand');
    const overlap = keys.filter((k) => k in (partial as object));
    if (overlap.length > 0) f(`mapped and partial arguments overlap: ${overlap.join(', ')}`, 'expand');
    out.set(t.taskId, {
      kind: 'expand',
      partial: fixed,
      expand: keys.map((k) => [k, source(args[k], ['expand', k], 'expand', false)]),
    });
  }
  return out;
}

/** Marks each task whose output a mapped task expands over, so its try checks the pushed value. */
export function addMapSources(tasks: TaskSpec[], fail: Fail): void {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  for (const t of tasks) {
    if (!t.mapped) continue;
    for (const { arg, source } of mappedSources(t.mapped)) {
      if (!isXComRef(source)) continue;
      const pusher = byId.get(source.$xcom.task_id);
      if (!pusher) fail(`expand() references unknown task "${source.$xcom.task_id}"`, t.task_id, 'expand');
      if (source.$xcom.key !== 'return_value') fail('expand() can map over return values only', t.task_id, 'expand');
      (pusher!.map_sources ??= []).push({ consumer: t.task_id, arg, path: [...source.$xcom.path] });
    }
  }
}

/** Each task inside a mapped task group, with that group; a mapped group inside another is refused. */
export function mappedGroupMembers(tasks: readonly DeclaredTask[], fail: Fail): Map<string, DeclaredGroup> {
  const out = new Map<string, DeclaredGroup>();
  for (const t of tasks) {
    let mapped: DeclaredGroup | null = null;
    for (let g = t.group; g !== null; g = g.parent) {
      if (g.expand === undefined) continue;
      if (mapped !== null)
        fail(
          `mapped task group "${mapped.groupId}" is inside mapped task group "${g.groupId}" (nested mapped groups are not built)`,
          undefined,
          'expand',
        );
      mapped = g;
    }
    if (mapped === null) continue;
    const f = (message: string, field: string): never => fail(message, t.taskId, field);
    if (t.mapping !== undefined)
      f(`a task inside mapped task group "${mapped.groupId}" cannot be expanded itself (not built)`, 'expand');
    if (t.control)
      f(
        `a ${t.control.type.replace('_', '-')} task inside mapped task group "${mapped.groupId}" is not built`,
        'control',
      );
    if (t.setup || t.teardown !== null)
      f(`setup and teardown tasks inside mapped task group "${mapped.groupId}" are not built`, 'asSetup');
    out.set(t.taskId, mapped);
  }
  return out;
}

/** A mapped task group's expand() arguments: literal lists or outputs of tasks outside the group. */
export function compileGroupExpand(
  g: DeclaredGroup,
  byId: ReadonlyMap<string, DeclaredTask>,
  memberOf: ReadonlyMap<string, DeclaredGroup>,
  template: (value: unknown, path: string[]) => InputTemplate,
  fail: Fail,
): Array<[string, InputTemplate]> {
  const f = (message: string): never => fail(`mapped task group "${g.groupId}": ${message}`, undefined, 'expand');
  const args = g.expand;
  if (args === null || typeof args !== 'object' || Array.isArray(args) || isXComArg(args))
    f('expand takes an object: { argument: list | task output }');
  const keys = Object.keys(args!).filter((k) => args![k] !== undefined);
  if (keys.length === 0) f('expand needs at least one argument to map over');
  return keys.map((k): [string, InputTemplate] => {
    const value = args![k];
    if (isXComArg(value)) {
      if (mapArgOf(value)) f(`expand.${k} uses another mapped task group's argument (nested mapping is not built)`);
      const pusher = byId.get(value.taskId) ?? f(`expand.${k} references unknown task "${value.taskId}"`);
      if (memberOf.get(pusher.taskId) === g)
        f(`expand.${k} maps over task "${pusher.taskId}", which is inside the group`);
      if (pusher.mapping !== undefined || memberOf.has(pusher.taskId))
        f(
          `expand.${k} maps over the output of mapped task "${pusher.taskId}" (mapping over a mapped task's results is not built)`,
        );
      if (value.key !== 'return_value') f(`expand.${k} can map over return values only`);
      return [k, template(value, ['expand', k])];
    }
    if (!Array.isArray(value))
      f(`expand.${k} must be a list or a task output (XComArg), got ${value === null ? 'null' : typeof value}`);
    return [k, template(value, ['expand', k])];
  });
}
