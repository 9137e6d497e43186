/**
 * The compiler: DagDefinition → DagSpec JSON, with validation. Every error names the DAG, the task
 * and the field, e.g. `DAG "etl", task "load": retryDelay: expected a duration like '30s' ...`.
 */
import { CALLBACK_OPTION, DAG_CALLBACKS, TASK_CALLBACKS, callbackKey, type CallbackContext } from './callbacks.js';
import { canonicalJson } from './canonical-json.js';
import { duration, positiveInt, stripUndefined, type Fail } from './compile-fields.js';
import { branchGroups, linkChains } from './compile-graph.js';
import { addMapSources, compileGroupExpand, compileMappings, mappedGroupMembers } from './compile-mapping.js';
import { assetWatchersField } from './compile-assets.js';
import { compileTask, groupDefaults } from './compile-task.js';
import { draftDag, type DagDefinition, type DagDraft } from './dag.js';
import { DagDefinitionError } from './errors.js';
import { topologicalOrder } from './graph.js';
import type { Callback, Callbacks, DagOptions, DefaultArgs, TaskDefaults } from './options.js';
import { extractParams } from './params.js';
import type { DeclaredGroup, DeclaredTask, TaskFunction } from './task.js';
import { isXComArg, mapArgOf, xcomArgOwner, type XComArgInternal } from './xcom-arg.js';
import { branchTargets } from '../engine/control-flow.js';
import { isXComRef } from '../engine/mapping.js';
import { applyPriorityWeights } from '../engine/priority.js';
import { compileSchedule } from './schedule.js';
import { sha1Hex } from '../engine/sha1.js';
import {
  SPEC_VERSION,
  type DagSpec,
  type InputTemplate,
  type Json,
  type MappedSpec,
  type TaskSpec,
  type VersionedDagSpec,
} from '../spec/dag-spec.js';

/** Airflow's KEY_REGEX for dag_id and task_id, and its 250-character limit. */
const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;
const MAX_ID_LENGTH = 250;

export const DEFAULT_TASK_ARGS: TaskDefaults = {
  owner: 'updraft',
  retries: 0,
  retryDelay: 300,
  retryExponentialBackoff: false,
  maxRetryDelay: null,
  executionTimeout: null,
  triggerRule: 'all_success',
  queue: null,
  pool: 'default_pool',
  poolSlots: 1,
  priorityWeight: 1,
  weightRule: 'downstream',
};

export interface CompiledDag {
  spec: VersionedDagSpec;
  /**
   * In-process task functions by task id; only the worker calls them. Callbacks are here too,
   * under `callbackKey(...)` (a key no task id can take), as `(ctx: CallbackContext) => Promise<void>`.
   */
  functions: ReadonlyMap<string, TaskFunction<unknown, unknown>>;
}

/** Thrown by a combined callback when some of its functions threw; lists each failure. */
export class CallbackError extends Error {
  override readonly name = 'CallbackError';
}

export function validateId(value: unknown, what: 'dag_id' | 'task_id'): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${what} must be a non-empty string`;
  if (value.length > MAX_ID_LENGTH)
    return `${what} "${value.slice(0, 40)}..." is longer than ${MAX_ID_LENGTH} characters`;
  if (!ID_PATTERN.test(value)) {
    return `${what} "${value}" may contain only ASCII letters, digits, '-', '.' and '_'`;
  }
  return undefined;
}

/**
 * Compiles a DAG definition. `fileloc` is the file's path relative to the DAGs folder. The steps
 * run in this order, which is also the order in which a DAG with several problems reports them:
 * ids, setups/teardowns, edges (mapped groups, inputs, mappings, teardowns, chains), the order,
 * each task, the DAG's own fields.
 */
export function compileDag(definition: DagDefinition, fileloc: string): CompiledDag {
  const c = startCompilation(definition, fileloc);
  checkGroupIds(c);
  markSetups(c);
  const mappedGroups = compileMappedGroups(c);
  const inputs = compileInputs(c, mappedGroups.memberOf);
  const mappings = compileMappings(
    c.draft.tasks,
    c.byId,
    mappedGroups.memberOf,
    (value, path, t) => toTemplate(value, path, xcomRefCheck(c, t), badInput(c, t)),
    c.fail,
  );
  for (const t of c.draft.tasks) for (const s of t.teardown?.setups ?? []) c.upstream.get(t.taskId)!.add(s.taskId); // a teardown waits for its setups
  linkChains(c.draft.chains, c.draft.tasks, c.byId, c.upstream, c.fail);
  const graph = orderTasks(c);

  const functions = new Map<string, TaskFunction<unknown, unknown>>();
  const tasks = graph.order.map((id) => {
    const spec = compileTaskSpec(c, id, graph, inputs.get(id) ?? null, functions);
    const mapped = mappedSpecOf(id, graph, mappings, mappedGroups);
    if (mapped) spec.mapped = mapped;
    return spec;
  });
  addMapSources(tasks, c.fail);
  applyPriorityWeights(tasks);
  const spec = dagSpec(c, tasks, compileDagCallbacks(c, functions));
  return { spec: { ...spec, hash: hashSpec(spec) }, functions };
}

/** sha1 of the canonical JSON of a spec (without its hash). */
export function hashSpec(spec: DagSpec): string {
  const { hash: _ignored, ...rest } = spec as VersionedDagSpec;
  return sha1Hex(canonicalJson(rest));
}

/** What the steps of one compilation share. */
interface Compilation {
  readonly dagId: string;
  readonly options: DagOptions;
  readonly fileloc: string;
  readonly draft: DagDraft;
  readonly byId: ReadonlyMap<string, DeclaredTask>;
  /** The DAG's defaults for every task (DEFAULT_TASK_ARGS overridden by `defaultArgs`). */
  readonly dagDefaults: TaskDefaults & DefaultArgs;
  /** Task id → its upstream task ids; the edge steps add to it until orderTasks reads it. */
  readonly upstream: Map<string, Set<string>>;
  /** Throws the DagDefinitionError naming the DAG, the task and the field. */
  readonly fail: Fail;
}

/** The DAG id checked, the builder run, the task ids checked: what every later step starts from. */
function startCompilation(definition: DagDefinition, fileloc: string): Compilation {
  const options = definition.options;
  const dagIdProblem = validateId(options?.dagId, 'dag_id');
  if (dagIdProblem) throw new DagDefinitionError(`DAG in ${fileloc}: ${dagIdProblem}`, undefined, undefined, 'dagId');
  const dagId = options.dagId;
  const fail: Fail = (message, taskId, field) => {
    const where = taskId === undefined ? `DAG "${dagId}"` : `DAG "${dagId}", task "${taskId}"`;
    throw new DagDefinitionError(`${where}: ${field ? `${field}: ` : ''}${message}`, dagId, taskId, field);
  };
  const draft = runBuilder(definition, fail);
  return {
    dagId,
    options,
    fileloc,
    draft,
    byId: indexTasks(draft.tasks, fail),
    dagDefaults: { ...DEFAULT_TASK_ARGS, ...stripUndefined(options.defaultArgs ?? {}) },
    upstream: new Map(draft.tasks.map((t) => [t.taskId, new Set<string>()])),
    fail,
  };
}

/** Runs the DAG's builder function; the first problem it noticed (e.g. a task bound twice) fails the DAG. */
function runBuilder(definition: DagDefinition, fail: Fail): DagDraft {
  let draft: DagDraft;
  try {
    draft = draftDag(definition);
  } catch (err) {
    if (err instanceof DagDefinitionError) throw err;
    return fail(`the DAG builder threw: ${err instanceof Error ? err.message : String(err)}`);
  }
  const firstError = draft.errors[0];
  if (firstError) fail(firstError.message, firstError.taskId, firstError.field);
  return draft;
}

/** Task id → task, after checking each id and that no two tasks share one. */
function indexTasks(tasks: readonly DeclaredTask[], fail: Fail): Map<string, DeclaredTask> {
  const byId = new Map<string, DeclaredTask>();
  for (const t of tasks) {
    const problem = validateId(t.taskId, 'task_id');
    if (problem) fail(problem, typeof t.taskId === 'string' ? t.taskId : undefined, 'taskId');
    if (byId.has(t.taskId)) {
      const where = (x: DeclaredTask): string => (x.group ? `group "${x.group.groupId}"` : 'the DAG');
      const first = byId.get(t.taskId)!;
      const groups = first.group || t.group ? ` (declared in ${where(first)} and in ${where(t)})` : '';
      fail(`duplicate task_id "${t.taskId}"${groups} (task ids must be unique within a DAG)`, t.taskId, 'taskId');
    }
    byId.set(t.taskId, t);
  }
  return byId;
}

/** Group ids are unique and share one namespace with task ids, as in Airflow. */
function checkGroupIds(c: Compilation): void {
  const groupIds = new Set<string>();
  for (const g of c.draft.groups) {
    if (groupIds.has(g.groupId))
      c.fail(`duplicate task group id "${g.groupId}" (group ids must be unique within a DAG)`, undefined, 'groupId');
    if (c.byId.has(g.groupId))
      c.fail(
        `task group id "${g.groupId}" is also a task id (Airflow keeps them in one namespace)`,
        undefined,
        'groupId',
      );
    groupIds.add(g.groupId);
  }
}

/**
 * Checks teardowns and marks the setups they name (Airflow's as_teardown(setups=...)). Done before
 * any edge: a group's leaves (chain expansion) depend on these flags.
 */
function markSetups(c: Compilation): void {
  for (const t of c.draft.tasks) {
    if (t.teardown === null) continue;
    if (t.setup) c.fail('a task cannot be both a setup and a teardown', t.taskId, 'asTeardown');
    const rule = t.options.triggerRule;
    if (rule !== undefined && rule !== 'all_done_setup_success') {
      c.fail(
        `the trigger rule of a teardown is all_done_setup_success and cannot be set (got "${String(rule)}")`,
        t.taskId,
        'triggerRule',
      );
    }
    for (const s of t.teardown.setups) {
      const setup =
        c.byId.get(s?.taskId) ??
        c.fail(`asTeardown() names unknown setup task "${String(s?.taskId)}"`, t.taskId, 'setups');
      if (setup.teardown !== null)
        c.fail(`asTeardown() names "${setup.taskId}" as a setup, but it is a teardown`, t.taskId, 'setups');
      if (setup.taskId === t.taskId) c.fail('asTeardown() names the task as its own setup', t.taskId, 'setups');
      setup.setup = true;
    }
  }
}

/**
 * The one check of an XCom reference (an XComArg bound into a task's input, `partial()`,
 * `expand()`, or a mapped task group's `expand`): it must come from this DAG. A task's reference
 * must also name another task of the DAG, which becomes its upstream. A mapped group's references
 * (consumer null) are checked further by compileGroupExpand and become upstreams of its tasks.
 */
function xcomRefCheck(
  c: Compilation,
  consumer: DeclaredTask | null,
): (ref: XComArgInternal<unknown>, path: string[]) => void {
  const taskId = consumer?.taskId;
  const field = consumer === null ? 'expand' : 'input';
  return (ref, path) => {
    const where = path.join('.');
    if (xcomArgOwner(ref) !== c.draft.owner)
      c.fail(`${where} references task "${ref.taskId}" of another DAG`, taskId, field);
    if (consumer === null) return;
    if (!c.byId.has(ref.taskId)) c.fail(`${where} references unknown task "${ref.taskId}"`, taskId, field);
    if (ref.taskId === consumer.taskId) c.fail(`${where} references the task's own output`, taskId, field);
    c.upstream.get(consumer.taskId)!.add(ref.taskId);
  };
}

/** A value a task's input (or partial/expand arguments) cannot hold. */
function badInput(c: Compilation, t: DeclaredTask): (path: string[], what: string) => never {
  return (path, what) =>
    c.fail(`${path.join('.')} is ${what}; task inputs must be JSON (or XCom references)`, t.taskId, 'input');
}

interface MappedGroups {
  /** Task id → the mapped task group it is inside. */
  memberOf: Map<string, DeclaredGroup>;
  /** Group id → its expand() arguments as templates. */
  sources: Map<string, Array<[string, InputTemplate]>>;
}

/** Mapped task groups: every task inside runs once per element; the tasks pushing the lists are its upstreams. */
function compileMappedGroups(c: Compilation): MappedGroups {
  const memberOf = mappedGroupMembers(c.draft.tasks, c.fail);
  const sources = new Map<string, Array<[string, InputTemplate]>>();
  for (const g of c.draft.groups) {
    if (g.expand === undefined) continue;
    const onBad = (p: string[], what: string): never =>
      c.fail(`mapped task group "${g.groupId}": ${p.join('.')} is ${what}`, undefined, 'expand');
    sources.set(
      g.groupId,
      compileGroupExpand(
        g,
        c.byId,
        memberOf,
        (value, path) => toTemplate(value, path, xcomRefCheck(c, null), onBad),
        c.fail,
      ),
    );
  }
  for (const t of c.draft.tasks) {
    const g = memberOf.get(t.taskId);
    if (!g) continue;
    // The length of each pushed list decides the group's expansion, so every task in it waits for the pusher.
    for (const [, source] of sources.get(g.groupId) ?? [])
      if (isXComRef(source)) c.upstream.get(t.taskId)!.add(source.$xcom.task_id);
  }
  return { memberOf, sources };
}

/** Each task's bound input as a template; its references become its upstreams. */
function compileInputs(
  c: Compilation,
  memberOf: ReadonlyMap<string, DeclaredGroup>,
): Map<string, InputTemplate | null> {
  const inputs = new Map<string, InputTemplate | null>();
  for (const t of c.draft.tasks) {
    const onMapArg = (mapArg: { group: string; arg: string }, path: string[]): void => {
      if (memberOf.get(t.taskId)?.groupId !== mapArg.group) {
        c.fail(
          `${path.join('.')} uses the argument "${mapArg.arg}" of mapped task group "${mapArg.group}", but the task is not inside that group`,
          t.taskId,
          'input',
        );
      }
    };
    inputs.set(
      t.taskId,
      t.input === undefined ? null : toTemplate(t.input, ['input'], xcomRefCheck(c, t), badInput(c, t), onMapArg),
    );
  }
  return inputs;
}

interface TaskGraph {
  /** Task ids, upstreams first. */
  order: string[];
  upstream: Map<string, string[]>;
  downstream: Map<string, string[]>;
}

/** The edges as sorted lists, in topological order; a cycle fails the DAG. */
function orderTasks(c: Compilation): TaskGraph {
  const ids = c.draft.tasks.map((t) => t.taskId);
  const upstream = new Map<string, string[]>([...c.upstream].map(([id, ups]) => [id, [...ups].sort()]));
  const topo = topologicalOrder(ids, upstream);
  if (!topo.ok) c.fail(`the graph has a cycle: ${topo.cycle.join(' -> ')}`);
  const order = (topo as { order: string[] }).order;
  const downstream = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of order) for (const up of upstream.get(id)!) downstream.get(up)!.push(id);
  for (const list of downstream.values()) list.sort();
  return { order, upstream, downstream };
}

/** One task's spec, with its function (wrapped for a branch) and callbacks registered in `functions`. */
function compileTaskSpec(
  c: Compilation,
  id: string,
  graph: TaskGraph,
  input: InputTemplate | null,
  functions: Map<string, TaskFunction<unknown, unknown>>,
): TaskSpec {
  const t = c.byId.get(id)!;
  const defaults = groupDefaults(t.group, c.dagDefaults);
  const down = graph.downstream.get(id)!;
  const spec = compileTask(t, defaults, graph.upstream.get(id)!, down, input, c.fileloc, c.fail);
  if (spec.control?.type === 'branch') {
    const groups = branchGroups(down, c.draft.groups, c.draft.tasks, graph.upstream);
    if (Object.keys(groups).length > 0) spec.control = { type: 'branch', groups };
  }
  if (t.fn)
    functions.set(
      id,
      spec.control?.type === 'branch' ? branchFunction(id, t.fn, down, spec.control.groups ?? {}) : t.fn,
    );
  const merged = { ...defaults, ...stripUndefined(t.options) } as DefaultArgs;
  const flags: NonNullable<TaskSpec['callbacks']> = {};
  for (const name of TASK_CALLBACKS) {
    const option = CALLBACK_OPTION[name];
    const list = callbackList(merged[option], (m) => c.fail(m, id, option));
    if (list.length === 0) continue;
    flags[name] = true;
    functions.set(callbackKey(id, name), combineCallbacks(list));
  }
  if (Object.keys(flags).length > 0) spec.callbacks = flags;
  return spec;
}

/** How a task is mapped: by its own partial().expand(), or as a member of a mapped task group. */
function mappedSpecOf(
  id: string,
  graph: TaskGraph,
  mappings: ReadonlyMap<string, MappedSpec>,
  groups: MappedGroups,
): MappedSpec | undefined {
  const group = groups.memberOf.get(id);
  if (!group) return mappings.get(id);
  return {
    kind: 'group',
    group_id: group.groupId,
    expand: groups.sources.get(group.groupId) ?? [],
    instance_upstream: graph.upstream.get(id)!.filter((u) => groups.memberOf.get(u) === group),
  };
}

/** The DAG's own callbacks (onSuccess, onFailure), registered in `functions`; returns the spec's flags. */
function compileDagCallbacks(
  c: Compilation,
  functions: Map<string, TaskFunction<unknown, unknown>>,
): NonNullable<DagSpec['callbacks']> {
  const flags: NonNullable<DagSpec['callbacks']> = {};
  for (const name of DAG_CALLBACKS) {
    const option = name === 'on_success' ? 'onSuccess' : 'onFailure';
    const list = callbackList(c.options[option], (m) => c.fail(m, undefined, option));
    if (list.length === 0) continue;
    flags[name] = true;
    functions.set(callbackKey(null, name), combineCallbacks(list));
  }
  return flags;
}

/** The DAG-level fields, checked, around the compiled tasks. */
function dagSpec(c: Compilation, tasks: TaskSpec[], callbacks: NonNullable<DagSpec['callbacks']>): DagSpec {
  const { options, fail } = c;
  const dagParams = extractParams(options.params ?? {}, 'params', (m, field) => fail(m, undefined, field));
  const { timetable, timezone, is_paused_upon_creation, ...scheduleFields } = compileSchedule(options, fail);
  return {
    spec_version: SPEC_VERSION,
    dag_id: c.dagId,
    description: options.description ?? null,
    ...scheduleFields,
    max_active_tasks: positiveInt(options.maxActiveTasks ?? 16, 'maxActiveTasks', fail),
    dagrun_timeout: options.dagrunTimeout === undefined ? null : duration(options.dagrunTimeout, 'dagrunTimeout', fail),
    tags: [...(options.tags ?? [])],
    owner: c.dagDefaults.owner,
    params: dagParams.values,
    ...(Object.keys(dagParams.specs).length > 0 ? { param_specs: dagParams.specs } : {}),
    doc_md: options.docMd ?? null,
    fileloc: c.fileloc,
    tasks,
    ...(Object.keys(callbacks).length > 0 ? { callbacks } : {}),
    ...(options.maxMapLength !== undefined
      ? { max_map_length: positiveInt(options.maxMapLength, 'maxMapLength', fail) }
      : {}),
    ...(c.draft.groups.length > 0
      ? {
          task_groups: Object.fromEntries(
            c.draft.groups.map((g) => [
              g.groupId,
              { parent: g.parent?.groupId ?? null, prefix_group_id: g.prefixGroupId, tooltip: g.tooltip },
            ]),
          ),
        }
      : {}),
    ...(timetable ? { timetable } : {}),
    ...(timezone ? { timezone } : {}),
    ...(is_paused_upon_creation !== undefined ? { is_paused_upon_creation } : {}),
    ...assetWatchersField(
      options.schedule,
      c.draft.tasks.flatMap((t) => (t.options.outlets ?? []) as unknown[]),
      fail,
    ),
  };
}

/** Wraps a branch function so a result it may not follow fails the branch task with a clear error. */
function branchFunction(
  taskId: string,
  fn: TaskFunction<unknown, unknown>,
  direct: readonly string[],
  groups: Readonly<Record<string, readonly string[]>>,
): TaskFunction<unknown, unknown> {
  return async (input, ctx) => {
    const value = await fn(input, ctx);
    const follow = branchTargets(taskId, value, direct, groups);
    ctx.log.info(
      `following ${follow.length > 0 ? follow.join(', ') : 'no task'}; skipping the other direct downstream tasks`,
    );
    return value;
  };
}

function callbackList(value: Callbacks | undefined, f: (message: string) => never): Callback[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? [...(value as readonly Callback[])] : [value as Callback];
  list.forEach((c, i) => {
    if (typeof c !== 'function')
      f(
        `expected a function or an array of functions, got ${Array.isArray(value) ? `${typeof c} at [${i}]` : typeof c}`,
      );
  });
  return list;
}

/** One function that runs every callback in order; failures are collected, not short-circuited. */
function combineCallbacks(list: readonly Callback[]): TaskFunction<unknown, unknown> {
  const combined = async (ctx: CallbackContext): Promise<void> => {
    const errors: string[] = [];
    for (const [i, c] of list.entries()) {
      try {
        await c(ctx);
      } catch (err) {
        const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        errors.push(list.length > 1 ? `callback ${i + 1} of ${list.length}: ${text}` : text);
      }
    }
    if (errors.length > 0) throw new CallbackError(errors.join('; '));
  };
  return combined as unknown as TaskFunction<unknown, unknown>;
}

function toTemplate(
  value: unknown,
  path: string[],
  onRef: (ref: XComArgInternal<unknown>, path: string[]) => void,
  onBad: (path: string[], what: string) => never,
  onMapArg: (mapArg: { group: string; arg: string }, path: string[]) => void = (m, p) =>
    onBad(p, `the argument "${m.arg}" of mapped task group "${m.group}", which only tasks inside that group can use`),
): InputTemplate {
  if (isXComArg(value)) {
    const mapArg = mapArgOf(value);
    if (mapArg) {
      onMapArg(mapArg, path);
      return { $map_arg: { group: mapArg.group, arg: mapArg.arg, path: [...value.path] } };
    }
    onRef(value, path);
    return { $xcom: { task_id: value.taskId, key: value.key, path: [...value.path] } };
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : onBad(path, `the number ${value}`);
  if (Array.isArray(value)) return value.map((v, i) => toTemplate(v, [...path, String(i)], onRef, onBad, onMapArg));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      onBad(path, `a ${(value as object).constructor?.name ?? 'class instance'}`);
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      out[k] = toTemplate(v, [...path, k], onRef, onBad, onMapArg);
    }
    return out;
  }
  return onBad(path, `a ${typeof value}`);
}
