/**
 * Task handles and the records the builder keeps: what `d.task()` and its kin return, and what
 * the compiler reads. Shared by dag.ts (the builder), sensors.ts and compile.ts, below all three.
 */
import type { TaskContext } from './context.js';
import type { ContainerTaskOptions, DefaultArgs, ProcessTaskOptions, TaskOptions, TeardownOptions } from './options.js';
import type { Bindable, TaskRef, XComArg } from './xcom-arg.js';
import type { ControlSpec } from '../spec/dag-spec.js';

/** Arguments a task call takes: none for `void` input, optional for unannotated input. */
export type CallArgs<I> = unknown extends I ? [input?: unknown] : [I] extends [void] ? [] : [input: Bindable<I>];

export interface Task<I, O> extends TaskRef {
  /** Binds the task's input (once) and returns its output reference. */
  (...args: CallArgs<I>): XComArg<O>;
  /** The output reference without binding input (for control-only edges). */
  readonly output: XComArg<O>;
  /** Marks the task as a setup task (Airflow's `as_setup()`); returns the task. */
  asSetup(): Task<I, O>;
  /**
   * Marks the task as a teardown (Airflow's `as_teardown(setups=...)`): it runs once its
   * upstreams are done if at least one of its setups succeeded, even when the work failed; it is
   * skipped when its setups were skipped; its failure does not fail the run unless
   * `onFailureFailDagrun`. Each setup becomes an upstream of the teardown. Returns the task.
   */
  asTeardown(options?: TeardownOptions): Task<I, O>;
  /**
   * Fixed arguments of a mapped task (Airflow's `partial()`); follow with `expand` or
   * `expandKwargs`. The mapped task gets the fixed arguments plus each instance's mapped ones.
   */
  partial(fixed: PartialArgs<I>): MappableTask<I, O>;
  /** `partial({}).expand(args)`: see MappableTask.expand. */
  expand(args: ExpandArgs<I>): XComArg<O[]>;
  /** `partial({}).expandKwargs(list)`: see MappableTask.expandKwargs. */
  expandKwargs(list: ExpandKwargsArg<I>): XComArg<O[]>;
}

/** The input fields a mapped task may fix with partial(). */
export type PartialArgs<I> = unknown extends I ? Record<string, unknown> : { [K in keyof I]?: Bindable<I[K]> };

/** Per mapped field: a literal list of the field's type or a reference to one. */
export type ExpandArgs<I> = unknown extends I
  ? Record<string, readonly unknown[] | XComArg<readonly unknown[]>>
  : { [K in keyof I]?: readonly Bindable<I[K]>[] | XComArg<readonly I[K][]> };

/** expandKwargs(): a list of argument objects, or a reference to one. */
export type ExpandKwargsArg<I> = unknown extends I
  ? readonly Record<string, unknown>[] | XComArg<readonly Record<string, unknown>[]>
  : readonly { [K in keyof I]?: Bindable<I[K]> }[] | XComArg<readonly Partial<I>[]>;

/**
 * A task with fixed arguments, to be mapped (Airflow's `partial()` result). Each call declares the
 * task as mapped; the result refers to the list of the instances' return values in map_index order.
 */
export interface MappableTask<I, O> {
  /**
   * One instance per item (Airflow's `expand(**kwargs)`); several keys give the cross product,
   * the last key varying fastest. Lists are literal or another task's output (checked when that
   * task returns: a non-list or one longer than max_map_length fails it).
   */
  expand(args: ExpandArgs<I>): XComArg<O[]>;
  /** One instance per argument object (Airflow's `expand_kwargs(list_of_dicts)`). */
  expandKwargs(list: ExpandKwargsArg<I>): XComArg<O[]>;
}

export type TaskFunction<I, O> = (input: I, ctx: TaskContext) => O | Promise<O>;

/** A task group as the builder recorded it. */
export interface DeclaredGroup {
  /** Full id: the parent's id prefixed when the parent prefixes ("outer.inner"). */
  groupId: string;
  parent: DeclaredGroup | null;
  prefixGroupId: boolean;
  defaultArgs: DefaultArgs;
  tooltip: string | null;
  /** 0 for a top-level group. */
  depth: number;
  /** Declaration order, for stable iteration. */
  index: number;
  /** A mapped task group's expand() arguments, as given (validated by the compiler). */
  expand?: Record<string, unknown>;
}

/** One task as the builder recorded it; the compiler turns it into a TaskSpec. */
export interface DeclaredTask {
  /** The full task id (group prefixes applied). */
  taskId: string;
  kind: 'function' | 'process' | 'container' | 'empty' | 'sensor' | 'model_gate' | 'model_version';
  options: TaskOptions | ProcessTaskOptions | ContainerTaskOptions;
  fn?: TaskFunction<unknown, unknown>;
  /** The bound input, with XComArgs still in it; undefined until the task is called. */
  input?: unknown;
  bound: boolean;
  /** Declaration order, for error messages. */
  index: number;
  /** The innermost group the task was declared in (null: the DAG itself). */
  group: DeclaredGroup | null;
  /** Set by asSetup(). */
  setup: boolean;
  /** Set by asTeardown(). */
  teardown: { setups: TaskRef[]; onFailureFailDagrun: boolean } | null;
  /** Branch, short-circuit, latest-only and model-gate tasks. */
  control?: ControlSpec;
  /** Set by partial().expand() / expandKwargs(): the fixed arguments and the mapped ones. */
  mapping?: { partial: unknown; expand?: Record<string, unknown>; expandKwargs?: unknown };
}
