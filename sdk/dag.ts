/**
 * The authoring API: `dag(options, builder)`. The builder declares tasks on a DagBuilder; calling a
 * task binds its input and returns an XComArg (value reference and edge in one). Nothing here runs
 * task code: `dag()` only records the builder, which the compiler evaluates.
 */
import type { TaskContext } from './context.js';
import type { ContainerTaskOptions, DagOptions, ProcessTaskOptions, ResourceOptions, TaskOptions } from './options.js';
import type { Json } from './spec.js';
import { makeXComArg, type Bindable, type XComArg } from './xcom-arg.js';

/** Arguments a task call takes: none for `void` input, optional for unannotated input. */
export type CallArgs<I> = unknown extends I ? [input?: unknown] : [I] extends [void] ? [] : [input: Bindable<I>];

/** Anything that stands for a task in `chain()`: a task handle or one of its outputs. */
export interface TaskRef {
  readonly taskId: string;
}

export interface Task<I, O> extends TaskRef {
  /** Binds the task's input (once) and returns its output reference. */
  (...args: CallArgs<I>): XComArg<O>;
  /** The output reference without binding input (for control-only edges). */
  readonly output: XComArg<O>;
}

export type TaskFunction<I, O> = (input: I, ctx: TaskContext) => O | Promise<O>;

export interface DagBuilder {
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
  /** Control-only edges: chain(a, b, [c, d], e) is a >> b >> [c, d] >> e. */
  chain(...nodes: Array<TaskRef | readonly TaskRef[]>): void;
}

/** One task as the builder recorded it; the compiler turns it into a TaskSpec. */
export interface DeclaredTask {
  taskId: string;
  kind: 'function' | 'process' | 'container' | 'empty';
  options: TaskOptions | ProcessTaskOptions | ContainerTaskOptions;
  fn?: TaskFunction<unknown, unknown>;
  /** The bound input, with XComArgs still in it; undefined until the task is called. */
  input?: unknown;
  bound: boolean;
  /** Declaration order, for error messages. */
  index: number;
}

/** What the builder collected. `owner` identifies this DAG's XComArgs. */
export interface DagDraft {
  owner: object;
  tasks: DeclaredTask[];
  chains: Array<[from: TaskRef, to: TaskRef]>;
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

/** Runs a DAG's builder and returns what it declared. Used by the compiler. */
export function draftDag(definition: DagDefinition): DagDraft {
  const draft: DagDraft = { owner: {}, tasks: [], chains: [], errors: [] };

  const declare = <I, O>(
    kind: DeclaredTask['kind'],
    options: TaskOptions | ProcessTaskOptions | ContainerTaskOptions,
    fn?: TaskFunction<unknown, unknown>,
  ): Task<I, O> => {
    const declared: DeclaredTask = { taskId: options.taskId, kind, options, fn, bound: false, index: draft.tasks.length };
    draft.tasks.push(declared);
    const output = makeXComArg<O>(draft.owner, options.taskId);
    const call = (...args: unknown[]): XComArg<O> => {
      if (declared.bound) {
        draft.errors.push({
          taskId: options.taskId,
          message: `task "${options.taskId}" is called twice; each call would be a separate task, so declare another task with its own taskId`,
        });
      }
      declared.bound = true;
      declared.input = args[0];
      return output;
    };
    return Object.assign(call, { taskId: options.taskId, output }) as unknown as Task<I, O>;
  };

  const builder: DagBuilder = {
    task: <I, O>(options: TaskOptions, fn: TaskFunction<I, O>) =>
      declare<I, Awaited<O>>('function', options, fn as TaskFunction<unknown, unknown>),
    process: <I, O>(options: ProcessTaskOptions & { resources?: ResourceOptions }) => declare<I, O>('process', options),
    container: <I, O>(options: ContainerTaskOptions) => declare<I, O>('container', options),
    empty: (options: TaskOptions) => declare<void, void>('empty', options),
    chain: (...nodes) => {
      for (let i = 1; i < nodes.length; i++) {
        const from = toList(nodes[i - 1]!);
        const to = toList(nodes[i]!);
        for (const f of from) for (const t of to) draft.chains.push([f, t]);
      }
    },
  };
  definition.build(builder);
  return draft;
}

function toList(node: TaskRef | readonly TaskRef[]): readonly TaskRef[] {
  return Array.isArray(node) ? (node as readonly TaskRef[]) : [node as TaskRef];
}
