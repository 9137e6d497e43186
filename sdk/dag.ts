/**
 * The authoring API: `dag(options, builder)`. The builder declares tasks on a DagBuilder; calling a
 * task binds its input and returns an XComArg (value reference and edge in one). Nothing here runs
 * task code: `dag()` only records the builder, which the compiler evaluates.
 */
import type {
  ContainerTaskOptions,
  DagOptions,
  ProcessTaskOptions,
  ResourceOptions,
  ShortCircuitOptions,
  TaskGroupOptions,
  TaskOptions,
  TeardownOptions,
} from './options.js';
import type { ControlSpec, Json } from '../spec/dag-spec.js';
import { makeXComArg, type TaskRef, type XComArg } from './xcom-arg.js';
import { modelGateBuilder, type ModelGateBuilder } from './model-gate.js';
import { modelVersionBuilder, type ModelVersionBuilder } from './model-version.js';
import { sensorBuilder, type SensorBuilder } from './sensors.js';
import type {
  DeclaredGroup,
  DeclaredTask,
  ExpandArgs,
  ExpandKwargsArg,
  MappableTask,
  PartialArgs,
  Task,
  TaskFunction,
} from './task.js';

const TASK_GROUP = Symbol.for('updraft.TaskGroup');

/**
 * A task group handle. In `chain()` it stands for its roots when something is upstream of it and
 * for its leaves (teardowns excepted) when something is downstream of it, as `>>` on an Airflow
 * TaskGroup does.
 */
export interface TaskGroup<R = void> {
  /** The group's full id ("outer.inner"). */
  readonly groupId: string;
  /** What the group's builder function returned (e.g. an output reference of its last task). */
  readonly result: R;
}

/** A mapped task group's result seen from outside it: a reference becomes the list of its instances' values. */
export type Collected<R> = R extends XComArg<infer O> ? XComArg<O[]> : R;

/** What `chain()` links: tasks, their outputs, and task groups. */
export type ChainNode = TaskRef | TaskGroup<unknown>;

/** What a branch function returns: the direct downstream task id(s) to follow, or null for none. */
export type BranchResult = string | readonly string[] | null | undefined | void;

export interface DagBuilder extends SensorBuilder, ModelGateBuilder, ModelVersionBuilder {
  /** An in-process TypeScript task; runs in the worker. Its return value is the XCom. */
  task<I = void, O = void>(options: TaskOptions, fn: TaskFunction<I, O>): Task<I, Awaited<O>>;
  /** A local program run as a process (argv array; no shell unless asked). */
  process<I = void, O = Json>(options: ProcessTaskOptions): Task<I, O>;
  /**
   * A step in a container image on Docker or Kubernetes. The input arrives as JSON in
   * $UPDRAFT_INPUT and /updraft/input.json; the output is read from /updraft/xcom/return.json.
   */
  container<I = void, O = Json>(options: ContainerTaskOptions): Task<I, O>;
  /** A task that does nothing (Airflow's EmptyOperator); useful as a join. */
  empty(options: TaskOptions): Task<void, void>;
  /**
   * A branch (Airflow's `@task.branch`): an in-process function that returns the id(s) of the
   * direct downstream task(s) to follow (a downstream task group's id stands for its roots), or
   * null to follow none. Every other direct downstream task is skipped; the skips propagate by
   * trigger rules (join with `none_failed_min_one_success`). Returning any other id fails the task.
   */
  branch<I = void>(options: TaskOptions, fn: TaskFunction<I, BranchResult | Promise<BranchResult>>): Task<I, Json>;
  /**
   * A short-circuit (Airflow's `@task.short_circuit`): a falsy return value skips the downstream
   * tasks (all of them by default, see `ignoreDownstreamTriggerRules`); a truthy one is the XCom
   * and nothing is skipped.
   */
  shortCircuit<I = void, O = unknown>(options: ShortCircuitOptions, fn: TaskFunction<I, O>): Task<I, Awaited<O>>;
  /**
   * Airflow's LatestOnlyOperator: skips its direct downstream tasks unless the run is the latest
   * scheduled run of the DAG (no scheduled run with a later logical date). Manual runs skip nothing.
   */
  latestOnly(options: TaskOptions): Task<void, void>;
  /**
   * A task group (Airflow's TaskGroup): tasks declared on `g` get ids `groupId.taskId` (unless
   * `prefixGroupId: false`), and the group's defaultArgs override the DAG's. Groups nest.
   */
  group<R = void>(options: TaskGroupOptions, build: (g: DagBuilder) => R): TaskGroup<R>;
  /**
   * A mapped task group (Airflow's `@task_group` + `.expand()`): every task declared on `g` runs
   * once per element of `expand` (several keys: the cross product); `args.<key>` stands for the
   * instance's element. Inside the group a task waits only for the same instance (map_index) of
   * its upstream tasks in the group. Outside, a reference to a task of the group (e.g. the
   * group's `result`) is the list of its instances' values.
   */
  mappedGroup<A extends Record<string, unknown>, R = void>(
    options: TaskGroupOptions & { expand: { [K in keyof A]: readonly A[K][] | XComArg<readonly A[K][]> } },
    build: (g: DagBuilder, args: { [K in keyof A]: XComArg<A[K]> }) => R,
  ): TaskGroup<Collected<R>>;
  /**
   * Control-only edges: chain(a, b, [c, d], e) is a >> b >> [c, d] >> e. A task group stands for
   * its roots on the downstream side and its leaves (not teardowns) on the upstream side.
   */
  chain(...nodes: Array<ChainNode | readonly ChainNode[]>): void;
}

/** One end of a chain() edge: a task (or output reference) or a group. */
export type ChainEnd = { task: TaskRef } | { group: DeclaredGroup };

/** What the builder collected. `owner` identifies this DAG's XComArgs and groups. */
export interface DagDraft {
  owner: object;
  tasks: DeclaredTask[];
  groups: DeclaredGroup[];
  chains: Array<[from: ChainEnd, to: ChainEnd]>;
  /** Errors noticed while building (e.g. a task bound twice), reported by the compiler. */
  errors: Array<{ taskId?: string; field?: string; message: string }>;
}

export interface DagDefinition {
  readonly kind: 'updraft.dag';
  readonly options: DagOptions;
  readonly build: (d: DagBuilder) => void;
}

/**
 * Declares a DAG. Export it from a file in the DAGs folder (default export or any named export).
 *
 * ### Examples
 * ```ts
 * export default dag({ dagId: 'etl' }, (d) => {
 *   const extract = d.task({ taskId: 'extract' }, () => ({ rows: 3 }));
 *   const load = d.task({ taskId: 'load' }, (x: { rows: number }) => x.rows);
 *   load(extract());
 * });
 * ```
 */
export function dag(options: DagOptions, build: (d: DagBuilder) => void): DagDefinition {
  return { kind: 'updraft.dag', options, build };
}

export function isDagDefinition(value: unknown): value is DagDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'updraft.dag';
}

/** Group ids: Airflow's group key rule (letters, digits, '-' and '_'; no dots, they separate levels). */
const GROUP_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

interface GroupInternal {
  readonly [TASK_GROUP]: { owner: object; declared: DeclaredGroup };
}

function isGroupHandle(value: unknown): value is TaskGroup<unknown> & GroupInternal {
  return typeof value === 'object' && value !== null && TASK_GROUP in value;
}

/** Runs a DAG's builder and returns what it declared. Used by the compiler. */
export function draftDag(definition: DagDefinition): DagDraft {
  const draft: DagDraft = { owner: {}, tasks: [], groups: [], chains: [], errors: [] };

  const makeBuilder = (group: DeclaredGroup | null): DagBuilder => {
    const fullId = (label: string): string =>
      group !== null && group.prefixGroupId ? `${group.groupId}.${label}` : label;

    const declare = <I, O>(
      kind: DeclaredTask['kind'],
      options: TaskOptions | ProcessTaskOptions | ContainerTaskOptions,
      fn?: TaskFunction<unknown, unknown>,
      control?: ControlSpec,
    ): Task<I, O> => {
      // A non-string id is reported by the compiler; keep it as is so the message shows it.
      const taskId =
        typeof options?.taskId === 'string' ? fullId(options.taskId) : (options?.taskId as unknown as string);
      const declared: DeclaredTask = {
        taskId,
        kind,
        options,
        fn,
        bound: false,
        index: draft.tasks.length,
        group,
        setup: false,
        teardown: null,
        ...(control ? { control } : {}),
      };
      draft.tasks.push(declared);
      const output = makeXComArg<O>(draft.owner, taskId);
      const call = (...args: unknown[]): XComArg<O> => {
        if (declared.bound) {
          draft.errors.push({
            taskId,
            message: `task "${taskId}" is called twice; each call would be a separate task, so declare another task with its own taskId`,
          });
        }
        declared.bound = true;
        declared.input = args[0];
        return output;
      };
      const mapWith = (
        partial: unknown,
        mapping: { expand?: Record<string, unknown>; expandKwargs?: unknown },
      ): XComArg<unknown[]> => {
        if (declared.bound) {
          draft.errors.push({
            taskId,
            message: `task "${taskId}" is called or expanded twice; each call would be a separate task, so declare another task with its own taskId`,
          });
        }
        declared.bound = true;
        declared.mapping = { partial, ...mapping };
        return output as unknown as XComArg<unknown[]>;
      };
      const mappable = (partial: unknown): MappableTask<I, O> => ({
        expand: (args) => mapWith(partial, { expand: args as Record<string, unknown> }) as XComArg<O[]>,
        expandKwargs: (list) => mapWith(partial, { expandKwargs: list }) as XComArg<O[]>,
      });
      const handle = Object.assign(call, {
        taskId,
        output,
        partial: (fixed: PartialArgs<I>) => mappable(fixed),
        expand: (args: ExpandArgs<I>) => mappable({}).expand(args),
        expandKwargs: (list: ExpandKwargsArg<I>) => mappable({}).expandKwargs(list),
        asSetup: () => {
          declared.setup = true;
          return handle;
        },
        asTeardown: (opts: TeardownOptions = {}) => {
          const setups =
            opts.setups === undefined
              ? []
              : Array.isArray(opts.setups)
                ? [...(opts.setups as readonly TaskRef[])]
                : [opts.setups as TaskRef];
          declared.teardown = { setups, onFailureFailDagrun: opts.onFailureFailDagrun ?? false };
          return handle;
        },
      }) as unknown as Task<I, O>;
      return handle;
    };

    const toEnds = (node: ChainNode | readonly ChainNode[]): ChainEnd[] =>
      (Array.isArray(node) ? (node as readonly ChainNode[]) : [node as ChainNode]).map((n): ChainEnd => {
        if (isGroupHandle(n)) {
          if (n[TASK_GROUP].owner !== draft.owner) {
            draft.errors.push({
              field: 'chain',
              message: `chain() references task group "${n.groupId}" of another DAG`,
            });
          }
          return { group: n[TASK_GROUP].declared };
        }
        return { task: n as TaskRef };
      });

    const makeGroup = <R>(
      options: TaskGroupOptions & { expand?: Record<string, unknown> },
      build: (g: DagBuilder, args?: unknown) => R,
    ): TaskGroup<R> => {
      const label = options?.groupId;
      if (typeof label !== 'string' || !GROUP_ID_PATTERN.test(label)) {
        draft.errors.push({
          field: 'groupId',
          message: `task group id ${JSON.stringify(label)} may contain only ASCII letters, digits, '-' and '_' (dots separate nested groups)`,
        });
      }
      const declared: DeclaredGroup = {
        groupId: group !== null && group.prefixGroupId ? `${group.groupId}.${String(label)}` : String(label),
        parent: group,
        prefixGroupId: options?.prefixGroupId ?? true,
        defaultArgs: options?.defaultArgs ?? {},
        tooltip: options?.tooltip ?? null,
        depth: group === null ? 0 : group.depth + 1,
        index: draft.groups.length,
      };
      if (options?.expand !== undefined) declared.expand = options.expand;
      draft.groups.push(declared);
      const args =
        options?.expand !== undefined && typeof options.expand === 'object' && options.expand !== null
          ? Object.fromEntries(
              Object.keys(options.expand).map((arg) => [
                arg,
                makeXComArg(draft.owner, declared.groupId, 'return_value', [], { group: declared.groupId, arg }),
              ]),
            )
          : undefined;
      const result = build(makeBuilder(declared), args);
      return { groupId: declared.groupId, result, [TASK_GROUP]: { owner: draft.owner, declared } } as TaskGroup<R> &
        GroupInternal;
    };

    const builder: DagBuilder = {
      task: <I, O>(options: TaskOptions, fn: TaskFunction<I, O>) =>
        declare<I, Awaited<O>>('function', options, fn as TaskFunction<unknown, unknown>),
      process: <I, O>(options: ProcessTaskOptions & { resources?: ResourceOptions }) =>
        declare<I, O>('process', options),
      container: <I, O>(options: ContainerTaskOptions) => declare<I, O>('container', options),
      empty: (options: TaskOptions) => declare<void, void>('empty', options),
      ...sensorBuilder(declare),
      ...modelGateBuilder(declare),
      ...modelVersionBuilder(declare),
      branch: <I>(options: TaskOptions, fn: TaskFunction<I, BranchResult | Promise<BranchResult>>) =>
        declare<I, Json>('function', options, fn as TaskFunction<unknown, unknown>, { type: 'branch' }),
      shortCircuit: <I, O>(options: ShortCircuitOptions, fn: TaskFunction<I, O>) =>
        declare<I, Awaited<O>>('function', options, fn as TaskFunction<unknown, unknown>, {
          type: 'short_circuit',
          ignore_downstream_trigger_rules: options?.ignoreDownstreamTriggerRules ?? true,
        }),
      latestOnly: (options: TaskOptions) => declare<void, void>('empty', options, undefined, { type: 'latest_only' }),
      group: makeGroup,
      mappedGroup: (options, build) => {
        if (
          options?.expand === undefined ||
          options.expand === null ||
          typeof options.expand !== 'object' ||
          Array.isArray(options.expand)
        ) {
          draft.errors.push({
            field: 'expand',
            message: `mapped task group ${JSON.stringify(options?.groupId)} needs expand: { argument: list | task output }`,
          });
        }
        return makeGroup(
          { ...options, expand: (options?.expand ?? {}) as Record<string, unknown> },
          build as (g: DagBuilder, args?: unknown) => unknown,
        ) as never;
      },
      chain: (...nodes) => {
        for (let i = 1; i < nodes.length; i++) {
          const from = toEnds(nodes[i - 1]!);
          const to = toEnds(nodes[i]!);
          for (const f of from) for (const t of to) draft.chains.push([f, t]);
        }
      },
    };
    return builder;
  };

  definition.build(makeBuilder(null));
  return draft;
}
