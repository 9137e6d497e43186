/**
 * The compiler: DagDefinition → DagSpec JSON, with validation. Every error names the DAG, the task
 * and the field, e.g. `DAG "etl", task "load": retryDelay: expected a duration like '30s' ...`.
 */
import { CALLBACK_OPTION, DAG_CALLBACKS, TASK_CALLBACKS, callbackKey, type CallbackContext } from './callbacks.js';
import { canonicalJson } from './canonical-json.js';
import { branchTargets } from '../engine/control-flow.js';
import { draftDag, type ChainEnd, type DagDefinition } from './dag.js';
import type { DeclaredGroup, DeclaredTask, TaskFunction } from './task.js';
import { toSeconds, type Duration } from './duration.js';
import { DagDefinitionError } from './errors.js';
import { topologicalOrder } from './graph.js';
import type { Callback, Callbacks, ContainerTaskOptions, DefaultArgs, ProcessTaskOptions, ResourceOptions, TaskDefaults } from './options.js';
import { extractParams } from './params.js';
import { compileCrossRunOptions } from './cross-run.js';
import { applyPriorityWeights } from '../engine/priority.js';
import { compileSensor } from './sensors.js';
import { sha1Hex } from '../engine/sha1.js';
import { SPEC_VERSION, TEMPLATE_FIELDS, type DagSpec, type InputTemplate, type Json, type TaskSpec, type VersionedDagSpec } from '../spec/dag-spec.js';
import { TRIGGER_RULE_ALIASES, isTriggerRule, type TriggerRule } from '../spec/trigger-rule.js';
import { isXComArg, mapArgOf, xcomArgOwner } from './xcom-arg.js';
import { isXComRef, mappedSources } from '../engine/mapping.js';
import type { MappedSpec } from '../spec/dag-spec.js';

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
  if (value.length > MAX_ID_LENGTH) return `${what} "${value.slice(0, 40)}..." is longer than ${MAX_ID_LENGTH} characters`;
  if (!ID_PATTERN.test(value)) {
    return `${what} "${value}" may contain only ASCII letters, digits, '-', '.' and '_'`;
  }
  return undefined;
}

/** Compiles a DAG definition. `fileloc` is the file's path relative to the DAGs folder. */
export function compileDag(definition: DagDefinition, fileloc: string): CompiledDag {
  const options = definition.options;
  const dagIdProblem = validateId(options?.dagId, 'dag_id');
  if (dagIdProblem) throw new DagDefinitionError(`DAG in ${fileloc}: ${dagIdProblem}`, undefined, undefined, 'dagId');
  const dagId = options.dagId;
  const fail = (message: string, taskId?: string, field?: string): never => {
    const where = taskId === undefined ? `DAG "${dagId}"` : `DAG "${dagId}", task "${taskId}"`;
    throw new DagDefinitionError(`${where}: ${field ? `${field}: ` : ''}${message}`, dagId, taskId, field);
  };

  let draft;
  try {
    draft = draftDag(definition);
  } catch (err) {
    if (err instanceof DagDefinitionError) throw err;
    return fail(`the DAG builder threw: ${err instanceof Error ? err.message : String(err)}`);
  }
  const firstError = draft.errors[0];
  if (firstError) fail(firstError.message, firstError.taskId, firstError.field);

  const byId = new Map<string, DeclaredTask>();
  for (const t of draft.tasks) {
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
  const groupIds = new Set<string>();
  for (const g of draft.groups) {
    if (groupIds.has(g.groupId)) fail(`duplicate task group id "${g.groupId}" (group ids must be unique within a DAG)`, undefined, 'groupId');
    if (byId.has(g.groupId)) fail(`task group id "${g.groupId}" is also a task id (Airflow keeps them in one namespace)`, undefined, 'groupId');
    groupIds.add(g.groupId);
  }

  // Setup/teardown flags first: group leaves (chain expansion below) depend on them.
  for (const t of draft.tasks) {
    if (t.teardown === null) continue;
    if (t.setup) fail('a task cannot be both a setup and a teardown', t.taskId, 'asTeardown');
    const rule = t.options.triggerRule;
    if (rule !== undefined && rule !== 'all_done_setup_success') {
      fail(`the trigger rule of a teardown is all_done_setup_success and cannot be set (got "${String(rule)}")`, t.taskId, 'triggerRule');
    }
    for (const s of t.teardown.setups) {
      const setup = byId.get(s?.taskId) ?? fail(`asTeardown() names unknown setup task "${String(s?.taskId)}"`, t.taskId, 'setups');
      if (setup.teardown !== null) fail(`asTeardown() names "${setup.taskId}" as a setup, but it is a teardown`, t.taskId, 'setups');
      if (setup.taskId === t.taskId) fail('asTeardown() names the task as its own setup', t.taskId, 'setups');
      setup.setup = true; // Airflow's as_teardown(setups=...) marks them as setups
    }
  }

  const dagDefaults: TaskDefaults & DefaultArgs = { ...DEFAULT_TASK_ARGS, ...stripUndefined(options.defaultArgs ?? {}) };
  const upstream = new Map<string, Set<string>>();
  for (const t of draft.tasks) upstream.set(t.taskId, new Set());

  // Mapped task groups: every task inside is expanded over the group's arguments.
  const memberOf = mappedGroupMembers(draft.tasks, fail);
  const groupSources = new Map<string, Array<[string, InputTemplate]>>();
  for (const g of draft.groups) {
    if (g.expand === undefined) continue;
    const sources = compileGroupExpand(g, byId, memberOf, (value, path) => toTemplate(value, path, (ref, p) => {
      if (xcomArgOwner(ref) !== draft.owner) fail(`${p.join('.')} references task "${ref.taskId}" of another DAG`, undefined, 'expand');
    }, (p, what) => fail(`mapped task group "${g.groupId}": ${p.join('.')} is ${what}`, undefined, 'expand')), fail);
    groupSources.set(g.groupId, sources);
  }
  for (const t of draft.tasks) {
    const g = memberOf.get(t.taskId);
    if (!g) continue;
    // The tasks pushing the group's lists are upstream of every task in it (the length decides its expansion).
    for (const [, source] of groupSources.get(g.groupId) ?? []) if (isXComRef(source)) upstream.get(t.taskId)!.add(source.$xcom.task_id);
  }

  const inputs = new Map<string, InputTemplate | null>();
  for (const t of draft.tasks) {
    const input =
      t.input === undefined
        ? null
        : toTemplate(t.input, ['input'], (ref, path) => {
            if (xcomArgOwner(ref) !== draft.owner) {
              fail(`${path.join('.')} references task "${ref.taskId}" of another DAG`, t.taskId, 'input');
            }
            if (!byId.has(ref.taskId)) fail(`${path.join('.')} references unknown task "${ref.taskId}"`, t.taskId, 'input');
            if (ref.taskId === t.taskId) fail(`${path.join('.')} references the task's own output`, t.taskId, 'input');
            upstream.get(t.taskId)!.add(ref.taskId);
          }, (path, what) => fail(`${path.join('.')} is ${what}; task inputs must be JSON (or XCom references)`, t.taskId, 'input'),
          (mapArg, path) => {
            if (memberOf.get(t.taskId)?.groupId !== mapArg.group) {
              fail(`${path.join('.')} uses the argument "${mapArg.arg}" of mapped task group "${mapArg.group}", but the task is not inside that group`, t.taskId, 'input');
            }
          });
    inputs.set(t.taskId, input);
  }
  const mappedSpecs = compileMappings(draft.tasks, byId, memberOf, (value, path, t) => toTemplate(value, path, (ref, p) => {
    if (xcomArgOwner(ref) !== draft.owner) fail(`${p.join('.')} references task "${ref.taskId}" of another DAG`, t.taskId, 'input');
    if (!byId.has(ref.taskId)) fail(`${p.join('.')} references unknown task "${ref.taskId}"`, t.taskId, 'input');
    if (ref.taskId === t.taskId) fail(`${p.join('.')} references the task's own output`, t.taskId, 'input');
    upstream.get(t.taskId)!.add(ref.taskId);
  }, (p, what) => fail(`${p.join('.')} is ${what}; task inputs must be JSON (or XCom references)`, t.taskId, 'input')), fail);
  for (const t of draft.tasks) for (const s of t.teardown?.setups ?? []) upstream.get(t.taskId)!.add(s.taskId);

  linkChains(draft.chains, draft.tasks, byId, upstream, fail);

  const ids = draft.tasks.map((t) => t.taskId);
  const upstreamLists = new Map<string, string[]>([...upstream].map(([id, ups]) => [id, [...ups].sort()]));
  const topo = topologicalOrder(ids, upstreamLists);
  if (!topo.ok) fail(`the graph has a cycle: ${topo.cycle.join(' -> ')}`);
  const order = (topo as { order: string[] }).order;

  const downstream = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of order) for (const up of upstreamLists.get(id)!) downstream.get(up)!.push(id);

  const functions = new Map<string, TaskFunction<unknown, unknown>>();
  const tasks: TaskSpec[] = order.map((id) => {
    const t = byId.get(id)!;
    const defaults = groupDefaults(t.group, dagDefaults);
    const down = downstream.get(id)!.sort();
    const spec = compileTask(t, defaults, upstreamLists.get(id)!, down, inputs.get(id) ?? null, fileloc, fail);
    if (spec.control?.type === 'branch') {
      const groups = branchGroups(down, draft.groups, draft.tasks, upstreamLists);
      if (Object.keys(groups).length > 0) spec.control = { type: 'branch', groups };
    }
    if (t.fn) functions.set(id, spec.control?.type === 'branch' ? branchFunction(id, t.fn, down, spec.control.groups ?? {}) : t.fn);
    const merged = { ...defaults, ...stripUndefined(t.options) } as DefaultArgs;
    const flags: NonNullable<TaskSpec['callbacks']> = {};
    for (const name of TASK_CALLBACKS) {
      const option = CALLBACK_OPTION[name];
      const list = callbackList(merged[option], (m) => fail(m, id, option));
      if (list.length === 0) continue;
      flags[name] = true;
      functions.set(callbackKey(id, name), combineCallbacks(list));
    }
    if (Object.keys(flags).length > 0) spec.callbacks = flags;
    const mapped = mappedSpecs.get(id);
    if (mapped) spec.mapped = mapped;
    const group = memberOf.get(id);
    if (group) {
      spec.mapped = {
        kind: 'group', group_id: group.groupId, expand: groupSources.get(group.groupId) ?? [],
        instance_upstream: upstreamLists.get(id)!.filter((u) => memberOf.get(u) === group),
      };
    }
    return spec;
  });
  addMapSources(tasks, fail);

  applyPriorityWeights(tasks);

  const dagCallbacks: NonNullable<DagSpec['callbacks']> = {};
  for (const name of DAG_CALLBACKS) {
    const option = name === 'on_success' ? 'onSuccess' : 'onFailure';
    const list = callbackList(options[option], (m) => fail(m, undefined, option));
    if (list.length === 0) continue;
    dagCallbacks[name] = true;
    functions.set(callbackKey(null, name), combineCallbacks(list));
  }

  const dagParams = extractParams(options.params ?? {}, 'params', (m, field) => fail(m, undefined, field));
  const spec: DagSpec = {
    spec_version: SPEC_VERSION,
    dag_id: dagId,
    description: options.description ?? null,
    schedule: options.schedule ?? null,
    start_date: toIsoOrNull(options.startDate, 'startDate', fail),
    end_date: toIsoOrNull(options.endDate, 'endDate', fail),
    catchup: options.catchup ?? false,
    max_active_runs: positiveInt(options.maxActiveRuns ?? 16, 'maxActiveRuns', fail),
    max_active_tasks: positiveInt(options.maxActiveTasks ?? 16, 'maxActiveTasks', fail),
    dagrun_timeout: options.dagrunTimeout === undefined ? null : duration(options.dagrunTimeout, 'dagrunTimeout', fail),
    tags: [...(options.tags ?? [])],
    owner: dagDefaults.owner,
    params: dagParams.values,
    ...(Object.keys(dagParams.specs).length > 0 ? { param_specs: dagParams.specs } : {}),
    doc_md: options.docMd ?? null,
    fileloc,
    tasks,
    ...(Object.keys(dagCallbacks).length > 0 ? { callbacks: dagCallbacks } : {}),
    ...(options.maxMapLength !== undefined ? { max_map_length: positiveInt(options.maxMapLength, 'maxMapLength', fail) } : {}),
    ...(draft.groups.length > 0
      ? { task_groups: Object.fromEntries(draft.groups.map((g) => [g.groupId, { parent: g.parent?.groupId ?? null, prefix_group_id: g.prefixGroupId, tooltip: g.tooltip }])) }
      : {}),
  };
  return { spec: { ...spec, hash: hashSpec(spec) }, functions };
}

/** sha1 of the canonical JSON of a spec (without its hash). */
export function hashSpec(spec: DagSpec): string {
  const { hash: _ignored, ...rest } = spec as VersionedDagSpec;
  return sha1Hex(canonicalJson(rest));
}

type Fail = (message: string, taskId?: string, field?: string) => never;

function compileTask(
  t: DeclaredTask,
  dagDefaults: TaskDefaults & DefaultArgs,
  upstream: string[],
  downstream: string[],
  input: InputTemplate | null,
  fileloc: string,
  fail: Fail,
): TaskSpec {
  const o = { ...dagDefaults, ...stripUndefined(t.options) };
  const id = t.taskId;
  const f = (message: string, field: string): never => fail(message, id, field);
  let rule = o.triggerRule as string;
  rule = TRIGGER_RULE_ALIASES[rule] ?? rule;
  if (!isTriggerRule(rule)) {
    f(`unknown trigger rule "${String(o.triggerRule)}" (expected one of Airflow's 13 rules, e.g. all_success, all_done, none_failed_min_one_success)`, 'triggerRule');
  }
  if (!Number.isInteger(o.retries) || o.retries < 0) f(`expected a non-negative integer, got ${String(o.retries)}`, 'retries');
  if (!['downstream', 'upstream', 'absolute'].includes(o.weightRule)) {
    f(`expected 'downstream', 'upstream' or 'absolute', got ${String(o.weightRule)}`, 'weightRule');
  }
  if (t.teardown !== null) rule = 'all_done_setup_success';
  const spec: TaskSpec = {
    task_id: id,
    kind: t.kind,
    operator: t.control ? CONTROL_OPERATOR_NAMES[t.control.type] : OPERATOR_NAMES[t.kind],
    upstream,
    downstream,
    trigger_rule: rule as TriggerRule,
    retries: o.retries,
    retry_delay: durationField(o.retryDelay, 'retryDelay', f),
    retry_exponential_backoff: Boolean(o.retryExponentialBackoff),
    max_retry_delay: o.maxRetryDelay == null ? null : durationField(o.maxRetryDelay, 'maxRetryDelay', f),
    execution_timeout: o.executionTimeout == null ? null : durationField(o.executionTimeout, 'executionTimeout', f),
    queue: o.queue ?? null,
    pool: o.pool,
    pool_slots: positiveInt(o.poolSlots, 'poolSlots', (m, _t, field) => f(m, field ?? 'poolSlots')),
    priority_weight: Number.isInteger(o.priorityWeight) ? o.priorityWeight : f(`expected an integer, got ${String(o.priorityWeight)}`, 'priorityWeight'),
    weight_rule: o.weightRule,
    owner: o.owner,
    outlets: (t.options.outlets ?? []).map((a, i) => {
      if (!a || typeof a.uri !== 'string' || a.uri.length === 0) f(`outlets[${i}] must be an asset with a non-empty uri`, 'outlets');
      return { uri: a.uri, name: a.name ?? a.uri };
    }),
    doc_md: t.options.docMd ?? null,
    input,
    resources: compileResources((t.options as { resources?: ResourceOptions }).resources, f),
  };
  if (t.kind === 'function') spec.function = { fileloc };
  if (t.kind === 'process') {
    const p = t.options as ProcessTaskOptions;
    if (!Array.isArray(p.argv) || p.argv.length === 0 || !p.argv.every((a) => typeof a === 'string')) {
      f('expected a non-empty array of strings (program and arguments)', 'argv');
    }
    if (p.shell && p.argv.length !== 1) f('with shell: true, argv must hold exactly one script string', 'argv');
    for (const [k, v] of Object.entries(p.env ?? {})) {
      if (typeof v !== 'string') f(`env.${k} must be a string, got ${typeof v}`, 'env');
    }
    spec.process = { argv: [...p.argv], env: { ...(p.env ?? {}) }, cwd: p.cwd ?? null, shell: p.shell ?? false };
  }
  if (t.kind === 'container') spec.container = compileContainer(t.options as ContainerTaskOptions, f);
  if (t.kind === 'sensor') Object.assign(spec, compileSensor(t, fileloc, f));
  Object.assign(spec, compileCrossRunOptions(o, f));
  if (t.options.params !== undefined) {
    const taskParams = extractParams(t.options.params, 'params', f);
    spec.params = taskParams.values;
    if (Object.keys(taskParams.specs).length > 0) spec.param_specs = taskParams.specs;
  }
  if (t.options.templateFields !== undefined) {
    const allowed = TEMPLATE_FIELDS[t.kind].allowed;
    const fields = t.options.templateFields;
    if (!Array.isArray(fields)) f('expected an array of field names', 'templateFields');
    for (const name of fields) {
      if (!allowed.includes(name)) {
        f(`"${String(name)}" cannot be templated in ${/^[aeiou]/.test(t.kind) ? 'an' : 'a'} ${t.kind} task (templatable: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`, 'templateFields');
      }
    }
    spec.template_fields = [...new Set(fields)];
  }
  if (t.group !== null) spec.task_group = t.group.groupId;
  if (t.setup) spec.is_setup = true;
  if (t.teardown !== null) {
    spec.is_teardown = true;
    if (t.teardown.onFailureFailDagrun) spec.on_failure_fail_dagrun = true;
  }
  if (t.control) spec.control = { ...t.control };
  return spec;
}

const CONTROL_OPERATOR_NAMES: Record<NonNullable<DeclaredTask['control']>['type'], string> = {
  branch: 'BranchTypeScriptOperator',
  short_circuit: 'ShortCircuitOperator',
  latest_only: 'LatestOnlyOperator',
};

/** The DAG's defaults overridden by each enclosing group's defaultArgs, outermost first. */
function groupDefaults(group: DeclaredGroup | null, dagDefaults: TaskDefaults & DefaultArgs): TaskDefaults & DefaultArgs {
  if (group === null) return dagDefaults;
  return { ...groupDefaults(group.parent, dagDefaults), ...stripUndefined(group.defaultArgs ?? {}) };
}

function isWithin(group: DeclaredGroup | null, ancestor: DeclaredGroup): boolean {
  for (let g = group; g !== null; g = g.parent) if (g === ancestor) return true;
  return false;
}

/** The groups strictly containing a chain end, innermost first. */
function containers(end: ChainEnd, byId: ReadonlyMap<string, DeclaredTask>): DeclaredGroup[] {
  const out: DeclaredGroup[] = [];
  let g = 'group' in end ? end.group.parent : (byId.get(end.task.taskId)?.group ?? null);
  for (; g !== null; g = g.parent) out.push(g);
  return out;
}

/**
 * Adds chain() edges. Task-to-task edges go in as they are; an edge with a group end links the
 * group's roots (downstream side) or leaves (upstream side), computed from the edges inside the
 * group. Those are final once every chain *inside* the group is linked, so group chains are
 * linked innermost first (deepest common enclosing group first); the order of chain() calls in
 * the DAG file does not matter, unlike Airflow's `>>`, which links what exists at that moment.
 */
function linkChains(
  chains: ReadonlyArray<[ChainEnd, ChainEnd]>,
  tasks: readonly DeclaredTask[],
  byId: ReadonlyMap<string, DeclaredTask>,
  upstream: Map<string, Set<string>>,
  fail: Fail,
): void {
  const withGroups: Array<{ from: ChainEnd; to: ChainEnd; depth: number; order: number }> = [];
  chains.forEach(([from, to], order) => {
    for (const end of [from, to]) {
      if ('task' in end && !byId.has(end.task?.taskId)) fail(`chain() references unknown task "${String(end.task?.taskId)}"`, undefined, 'chain');
    }
    if ('task' in from && 'task' in to) {
      if (from.task.taskId === to.task.taskId) fail(`chain() links task "${from.task.taskId}" to itself`, undefined, 'chain');
      upstream.get(to.task.taskId)!.add(from.task.taskId);
      return;
    }
    for (const [g, other] of [[from, to], [to, from]] as const) {
      if (!('group' in g)) continue;
      const inside = 'group' in other ? isWithin(other.group, g.group) : isWithin(byId.get(other.task.taskId)!.group, g.group);
      if (inside) {
        const what = 'group' in other ? (other.group === g.group ? 'itself' : `its own group "${other.group.groupId}"`) : `its own task "${other.task.taskId}"`;
        fail(`chain() links task group "${g.group.groupId}" to ${what}`, undefined, 'chain');
      }
    }
    const a = containers(from, byId);
    const b = new Set(containers(to, byId));
    const common = a.find((g) => b.has(g));
    withGroups.push({ from, to, depth: common === undefined ? -1 : common.depth, order });
  });
  if (withGroups.length === 0) return;
  withGroups.sort((x, y) => y.depth - x.depth || x.order - y.order);

  const members = (g: DeclaredGroup): DeclaredTask[] => tasks.filter((t) => isWithin(t.group, g));
  const ends = (end: ChainEnd, side: 'roots' | 'leaves'): string[] => {
    if ('task' in end) return [end.task.taskId];
    const inGroup = members(end.group);
    return side === 'roots' ? groupRoots(inGroup, upstream) : groupLeaves(inGroup, upstream);
  };
  for (const { from, to } of withGroups) {
    const ups = ends(from, 'leaves');
    const downs = ends(to, 'roots');
    for (const d of downs) for (const u of ups) upstream.get(d)!.add(u);
  }
}

/** Tasks of the group with no upstream inside the group (Airflow's TaskGroup.get_roots). */
function groupRoots(inGroup: readonly DeclaredTask[], upstream: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const ids = new Set(inGroup.map((t) => t.taskId));
  return inGroup.filter((t) => ![...upstream.get(t.taskId)!].some((u) => ids.has(u))).map((t) => t.taskId);
}

/**
 * Tasks of the group with no downstream inside it, teardowns replaced by the work before them
 * (Airflow's TaskGroup.get_leaves): `group >> x` must not make x wait on a teardown alone.
 */
function groupLeaves(inGroup: readonly DeclaredTask[], upstream: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const byId = new Map(inGroup.map((t) => [t.taskId, t]));
  const downIn = new Map<string, string[]>(inGroup.map((t) => [t.taskId, []]));
  for (const t of inGroup) for (const u of upstream.get(t.taskId)!) downIn.get(u)?.push(t.taskId);
  const isTeardown = (id: string): boolean => byId.get(id)!.teardown !== null;
  const hasNonTeardownDownstream = (id: string, exclude: string): boolean =>
    downIn.get(id)!.some((d) => d !== exclude && !isTeardown(d));
  const out = new Set<string>();
  const viaTeardown = (id: string, seen: Set<string>): void => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const up of upstream.get(id)!) {
      if (!byId.has(up)) continue;
      if (isTeardown(up)) viaTeardown(up, seen);
      else if (isTeardown(id) && byId.get(up)!.setup) continue; // not through the teardown-to-setup edge
      else if (!hasNonTeardownDownstream(up, id)) out.add(up);
    }
  };
  for (const t of inGroup) {
    if (downIn.get(t.taskId)!.length > 0) continue;
    if (t.teardown === null) out.add(t.taskId);
    else viaTeardown(t.taskId, new Set());
  }
  return inGroup.map((t) => t.taskId).filter((id) => out.has(id));
}

/** Group id → its roots that are direct downstream of a branch (a branch may name such a group). */
function branchGroups(
  direct: readonly string[],
  groups: readonly DeclaredGroup[],
  tasks: readonly DeclaredTask[],
  upstreamLists: ReadonlyMap<string, readonly string[]>,
): Record<string, string[]> {
  if (direct.length === 0 || groups.length === 0) return {};
  const directSet = new Set(direct);
  const out: Record<string, string[]> = {};
  const upstreamSets = new Map([...upstreamLists].map(([id, ups]) => [id, new Set(ups)]));
  for (const g of groups) {
    const roots = groupRoots(tasks.filter((t) => isWithin(t.group, g)), upstreamSets).filter((r) => directSet.has(r));
    if (roots.length > 0) out[g.groupId] = roots.sort();
  }
  return out;
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
    ctx.log.info(`following ${follow.length > 0 ? follow.join(', ') : 'no task'}; skipping the other direct downstream tasks`);
    return value;
  };
}

function callbackList(value: Callbacks | undefined, f: (message: string) => never): Callback[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? [...(value as readonly Callback[])] : [value as Callback];
  list.forEach((c, i) => {
    if (typeof c !== 'function') f(`expected a function or an array of functions, got ${Array.isArray(value) ? `${typeof c} at [${i}]` : typeof c}`);
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

const OPERATOR_NAMES: Record<DeclaredTask['kind'], string> = {
  function: 'TypeScriptOperator',
  process: 'ProcessOperator',
  container: 'ContainerOperator',
  empty: 'EmptyOperator',
  sensor: 'BaseSensorOperator',
};

const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

function compileResources(r: ResourceOptions | undefined, f: (m: string, field: string) => never): TaskSpec['resources'] {
  const cpu = r?.cpu === undefined ? null : String(r.cpu);
  if (cpu !== null && !QUANTITY.test(cpu)) f(`expected a CPU quantity like '500m' or '2', got '${cpu}'`, 'resources.cpu');
  const memory = r?.memory ?? null;
  if (memory !== null && !QUANTITY.test(memory)) f(`expected a memory quantity like '512Mi' or '4Gi', got '${memory}'`, 'resources.memory');
  const gpu = r?.gpu ?? 0;
  if (!Number.isInteger(gpu) || gpu < 0) f(`expected a non-negative integer, got ${String(gpu)}`, 'resources.gpu');
  const gpuType = r?.gpuType ?? null;
  if (gpuType !== null && !/^[a-z0-9][a-z0-9._-]*$/i.test(gpuType)) f(`expected a GPU type like 'a100', got '${gpuType}'`, 'resources.gpuType');
  return { cpu, memory, gpu, gpu_type: gpuType };
}

function stringRecord(v: Record<string, string>, field: string, f: (m: string, field: string) => never): Record<string, string> {
  for (const [key, value] of Object.entries(v)) if (typeof value !== 'string') f(`${key} must be a string, got ${typeof value}`, field);
  return { ...v };
}

function compileContainer(o: ContainerTaskOptions, f: (m: string, field: string) => never): NonNullable<TaskSpec['container']> {
  if (typeof o.image !== 'string' || o.image.trim() === '') f('expected an image name like "updraft/step-python:latest"', 'image');
  const strings = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) f('expected an array of strings', field);
    return [...(v as string[])];
  };
  for (const [k, v] of Object.entries(o.env ?? {})) if (typeof v !== 'string') f(`env.${k} must be a string, got ${typeof v}`, 'env');
  const mounts = (o.mounts ?? []).map((m, i) => {
    if (!m || typeof m.source !== 'string' || typeof m.target !== 'string' || !m.target.startsWith('/')) {
      f(`mounts[${i}] needs a source and an absolute target path`, 'mounts');
    }
    return { source: m.source, target: m.target, read_only: m.readOnly ?? false };
  });
  if (o.runtime !== undefined && o.runtime !== 'docker' && o.runtime !== 'kubernetes') f(`expected 'docker' or 'kubernetes', got '${String(o.runtime)}'`, 'runtime');
  const pull = o.pullPolicy ?? 'never';
  if (!['never', 'if_not_present', 'always'].includes(pull)) f(`expected 'never', 'if_not_present' or 'always', got '${String(pull)}'`, 'pullPolicy');
  const k = o.kubernetes ?? {};
  return {
    image: o.image,
    command: o.command === undefined ? null : strings(o.command, 'command'),
    args: strings(o.args, 'args'),
    env: { ...(o.env ?? {}) },
    working_dir: o.workingDir ?? null,
    mounts,
    runtime: o.runtime ?? null,
    pull_policy: pull,
    network_mode: o.networkMode ?? null,
    kubernetes: {
      namespace: k.namespace ?? null,
      service_account: k.serviceAccount ?? null,
      image_pull_secrets: [...(k.imagePullSecrets ?? [])],
      node_selector: { ...(k.nodeSelector ?? {}) },
      tolerations: (k.tolerations ?? []).map((t) => ({
        key: t.key, operator: t.operator ?? 'Equal',
        ...(t.value !== undefined ? { value: t.value } : {}), ...(t.effect !== undefined ? { effect: t.effect } : {}),
      })),
      pending_timeout: k.pendingTimeout === undefined ? null : durationField(k.pendingTimeout, 'kubernetes.pendingTimeout', f),
      ...(k.podAnnotations ? { pod_annotations: stringRecord(k.podAnnotations, 'kubernetes.podAnnotations', f) } : {}),
    },
  };
}

function toTemplate(
  value: unknown,
  path: string[],
  onRef: (ref: Parameters<typeof xcomArgOwner>[0], path: string[]) => void,
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
    if (proto !== Object.prototype && proto !== null) onBad(path, `a ${(value as object).constructor?.name ?? 'class instance'}`);
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      out[k] = toTemplate(v, [...path, k], onRef, onBad, onMapArg);
    }
    return out;
  }
  return onBad(path, `a ${typeof value}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function durationField(value: Duration, field: string, f: (m: string, field: string) => never): number {
  try {
    return toSeconds(value);
  } catch (err) {
    return f((err as Error).message, field);
  }
}

function duration(value: Duration, field: string, fail: Fail): number {
  return durationField(value, field, (m, fld) => fail(m, undefined, fld));
}

function positiveInt(value: number, field: string, fail: Fail): number {
  if (!Number.isInteger(value) || value < 1) return fail(`expected a positive integer, got ${String(value)}`, undefined, field);
  return value;
}

function toIsoOrNull(value: string | Date | undefined, field: string, fail: Fail): string | null {
  if (value === undefined) return null;
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return fail(`expected an ISO date like '2025-01-01', got '${String(value)}'`, undefined, field);
  return d.toISOString();
}

/**
 * partial().expand() / expandKwargs() → MappedSpec, validated: expand() values are literal lists
 * or task outputs, expandKwargs() takes a list of objects or a task output, mapped and partial
 * arguments do not overlap, and mapping is not combined with what it is not built for.
 */
function compileMappings(
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
    if (typeof partial !== 'object' || Array.isArray(partial) || isXComArg(partial)) f('partial() takes an object of fixed arguments', 'partial');
    const fixed = template(partial, ['partial'], t);
    const source = (value: unknown, path: string[], field: string, kwargs: boolean): InputTemplate => {
      if (isXComArg(value)) {
        const pusher = byId.get(value.taskId);
        if (pusher?.mapping !== undefined || (pusher !== undefined && memberOf.has(pusher.taskId))) {
          f(`${path.join('.')} maps over the output of mapped task "${value.taskId}" (mapping over a mapped task's results is not built)`, field);
        }
        if ((t.options.triggerRule as string | undefined) === 'always') {
          f('trigger rule "always" is not allowed on a task mapped over another task\'s output (Airflow forbids it)', 'triggerRule');
        }
        return template(value, path, t);
      }
      if (!Array.isArray(value)) f(`${path.join('.')} must be a list or a task output (XComArg), got ${value === null ? 'null' : typeof value}`, field);
      const list = value as unknown[];
      if (kwargs) {
        list.forEach((item, i) => {
          if (item === null || typeof item !== 'object' || Array.isArray(item) || isXComArg(item)) {
            f(`${path.join('.')}[${i}] must be an object of arguments, got ${item === null ? 'null' : Array.isArray(item) ? 'a list' : typeof item}`, field);
          }
        });
      }
      return template(list, path, t);
    };
    if (m.expandKwargs !== undefined) {
      out.set(t.taskId, { kind: 'expand_kwargs', partial: fixed, source: source(m.expandKwargs, ['expandKwargs'], 'expandKwargs', true) });
      continue;
    }
    const args = m.expand ?? {};
    if (typeof args !== 'object' || Array.isArray(args) || isXComArg(args)) f('expand() takes an object: { argument: list | task output }', 'expand');
    const keys = Object.keys(args).filter((k) => args[k] !== undefined);
    if (keys.length === 0) f('expand() needs at least one argument to map over', 'expand');
    const overlap = keys.filter((k) => k in (partial as object));
    if (overlap.length > 0) f(`mapped and partial arguments overlap: ${overlap.join(', ')}`, 'expand');
    out.set(t.taskId, { kind: 'expand', partial: fixed, expand: keys.map((k) => [k, source(args[k], ['expand', k], 'expand', false)]) });
  }
  return out;
}

/** Marks each task whose output a mapped task expands over, so its try checks the pushed value. */
function addMapSources(tasks: TaskSpec[], fail: Fail): void {
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
function mappedGroupMembers(tasks: readonly DeclaredTask[], fail: Fail): Map<string, DeclaredGroup> {
  const out = new Map<string, DeclaredGroup>();
  for (const t of tasks) {
    let mapped: DeclaredGroup | null = null;
    for (let g = t.group; g !== null; g = g.parent) {
      if (g.expand === undefined) continue;
      if (mapped !== null) fail(`mapped task group "${mapped.groupId}" is inside mapped task group "${g.groupId}" (nested mapped groups are not built)`, undefined, 'expand');
      mapped = g;
    }
    if (mapped === null) continue;
    const f = (message: string, field: string): never => fail(message, t.taskId, field);
    if (t.mapping !== undefined) f(`a task inside mapped task group "${mapped.groupId}" cannot be expanded itself (not built)`, 'expand');
    if (t.control) f(`a ${t.control.type.replace('_', '-')} task inside mapped task group "${mapped.groupId}" is not built`, 'control');
    if (t.setup || t.teardown !== null) f(`setup and teardown tasks inside mapped task group "${mapped.groupId}" are not built`, 'asSetup');
    out.set(t.taskId, mapped);
  }
  return out;
}

/** A mapped task group's expand() arguments: literal lists or outputs of tasks outside the group. */
function compileGroupExpand(
  g: DeclaredGroup,
  byId: ReadonlyMap<string, DeclaredTask>,
  memberOf: ReadonlyMap<string, DeclaredGroup>,
  template: (value: unknown, path: string[]) => InputTemplate,
  fail: Fail,
): Array<[string, InputTemplate]> {
  const f = (message: string): never => fail(`mapped task group "${g.groupId}": ${message}`, undefined, 'expand');
  const args = g.expand;
  if (args === null || typeof args !== 'object' || Array.isArray(args) || isXComArg(args)) f('expand takes an object: { argument: list | task output }');
  const keys = Object.keys(args!).filter((k) => args![k] !== undefined);
  if (keys.length === 0) f('expand needs at least one argument to map over');
  return keys.map((k): [string, InputTemplate] => {
    const value = args![k];
    if (isXComArg(value)) {
      if (mapArgOf(value)) f(`expand.${k} uses another mapped task group's argument (nested mapping is not built)`);
      const pusher = byId.get(value.taskId) ?? f(`expand.${k} references unknown task "${value.taskId}"`);
      if (memberOf.get(pusher.taskId) === g) f(`expand.${k} maps over task "${pusher.taskId}", which is inside the group`);
      if (pusher.mapping !== undefined || memberOf.has(pusher.taskId)) f(`expand.${k} maps over the output of mapped task "${pusher.taskId}" (mapping over a mapped task's results is not built)`);
      if (value.key !== 'return_value') f(`expand.${k} can map over return values only`);
      return [k, template(value, ['expand', k])];
    }
    if (!Array.isArray(value)) f(`expand.${k} must be a list or a task output (XComArg), got ${value === null ? 'null' : typeof value}`);
    return [k, template(value, ['expand', k])];
  });
}
