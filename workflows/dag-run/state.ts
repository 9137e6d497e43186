/**
 * The DAG-run workflow's state: one record that every part (tries, mapping, operator actions,
 * callbacks, stopping, continue-as-new) reads and changes. Each field says what it means and
 * which part changes it; the methods are the small steps several parts share.
 */
import { workflowInfo, type CancellationScope } from '@temporalio/workflow';
import { aggregateState } from '../../engine/mapping.js';
import { RunGraph, type AutoDecision } from '../../engine/run-graph.js';
import type { DagSpec, Json } from '../../spec/dag-spec.js';
import { isFinished, type TaskInstanceState } from '../../spec/states.js';
import type {
  CarriedRun,
  DagRunInput,
  DagRunResult,
  RunCallbackRequest,
  TaskStateUpdate,
  XComEntry,
} from '../types.js';
import { local } from './activities.js';

export type RunEndState = 'success' | 'failed';

export class RunState {
  readonly dagId: string;
  readonly runId: string;
  /** Continue-as-new generation (0: the first execution, or a re-opened one). */
  readonly generation: number;
  /** Where this generation's history starts growing from (continue-as-new.ts ignores the spec load). */
  readonly historyAfterLoad: { length: number; size: number };
  /** Per-task state, try numbers, mapped instances and trigger-rule decisions (engine/run-graph.ts). */
  readonly graph: RunGraph;
  /** Inline XComs (or references to stored ones) by task index. Set by tries; cleared by operator actions. */
  readonly xcoms: Map<number, XComEntry>;
  /** The run's start and dagrun_timeout deadline, kept across generations. */
  readonly startedAt: string;
  readonly deadline: string | null;
  /** Tasks plus mapped instances in flight at once: the run option capped by max_active_tasks. */
  readonly maxInFlight: number;

  // Bookkeeping (flush): decisions the workflow made itself, written to Postgres in batches.
  /** State rows waiting for the next flush. Pushed by every part; emptied by flush(). */
  pending: TaskStateUpdate[] = [];
  /** Mapped tasks an operator cleared whose instance rows the next flush removes (operator-actions.ts). */
  resetMapped: string[] = [];

  // Scheduling: what is in flight, each in its own cancellation scope (scheduling.ts).
  /** Unmapped tasks' tries and mapped tasks' expansions in flight, by task index. */
  readonly scopes = new Map<number, CancellationScope>();
  /** Mapped instances in flight, by `index:mapIndex`. */
  readonly instanceScopes = new Map<string, CancellationScope>();
  /** Set by whatever changed something the main loop decides on; the loop waits for it. */
  changed = true;

  // Dynamic task mapping (mapping.ts).
  /** Source lengths of expanded mapped tasks, by task index (carried across continue-as-new). */
  readonly mapLengths = new Map<number, number[]>();
  /** Expanded mapped tasks with instances not yet finished, in expansion order. */
  readonly activeMapped = new Set<number>();
  /**
   * Set when an expansion decided something without awaiting (zero length, upstream_failed, a
   * resumed expansion): the main loop must look again before it waits, or it would sleep through
   * the change (only mapping sets it, so unmapped runs keep their recorded command order).
   */
  expandedInline = false;

  // Callbacks (callbacks.ts): queued when a state is decided, started after the next flush.
  readonly callbackQueue: RunCallbackRequest[] = [];
  readonly runningCallbacks = new Set<Promise<void>>();

  // Operator actions (operator-actions.ts).
  /** The run completes or stops: actions now go to a re-opened run instead. Cleared by completion. */
  accepting = true;
  /** An operator marked the run: it ends in this state once its remaining tasks finish. */
  forcedState: RunEndState | null;
  /** Changes waiting for a task's try to stop, by task index. */
  readonly deferred = new Map<number, TaskInstanceState>();
  /** Set when operator changes are pending: flushed before anything is scheduled again. */
  operatorWrites = false;

  // Stopping (stopping.ts): set by the dagrun_timeout timer or a cancel; the main loop then stops.
  stopReason: string | null = null;

  /** The run's result once completion.ts decided it (the taskStates query reports it). */
  result: DagRunResult | null = null;

  /** The last workflow details published (details.ts), so unchanged details are not sent again. */
  lastDetails = '';

  constructor(
    readonly input: DagRunInput,
    readonly dag: DagSpec,
    carried: CarriedRun | undefined,
  ) {
    this.dagId = input.dagId;
    this.runId = input.runId;
    this.generation = input.carried?.generation ?? 0;
    // Loading a large spec alone can pass the server's continue-as-new hint, and rolling over
    // for that would reload it forever.
    this.historyAfterLoad = { length: workflowInfo().historyLength, size: workflowInfo().historySize };
    this.graph = new RunGraph(dag, carried?.tasks);
    this.xcoms = new Map<number, XComEntry>(carried?.xcoms ?? []);
    this.startedAt = carried?.startedAt ?? new Date().toISOString();
    this.deadline =
      carried?.deadline ??
      (dag.dagrun_timeout == null ? null : new Date(Date.now() + dag.dagrun_timeout * 1000).toISOString());
    this.forcedState = carried?.forcedState ?? null;
    this.maxInFlight = Math.min(input.options.maxInFlight, dag.max_active_tasks);
    for (const [i, lengths] of carried?.mapLengths ?? []) this.mapLengths.set(i, lengths);
  }

  /** The params a task or callback sees: the DAG's defaults under the run's conf. */
  params(): Record<string, Json> {
    return { ...this.dag.params, ...this.input.conf };
  }

  /** The tries a task may reach: those before an operator cleared it, then its retries anew. */
  maxTries(index: number): number {
    return this.graph.tryBase[index]! + this.graph.tasks[index]!.retries + 1;
  }

  inFlight(): number {
    return this.scopes.size + this.instanceScopes.size;
  }

  /** A try (or expansion, or any instance) of this task is in flight. */
  taskInFlight(index: number): boolean {
    if (this.scopes.has(index)) return true;
    for (const key of this.instanceScopes.keys()) if (key.startsWith(`${index}:`)) return true;
    return false;
  }

  /** Queues the skips and upstream_failed decisions the graph made on its own. */
  recordDecisions(decisions: AutoDecision[]): void {
    const graph = this.graph;
    for (const d of decisions) {
      if (d.mapIndex !== undefined) {
        // An instance of a mapped-group member decided by its in-group upstream instance.
        const tryNumber = graph.mapped.get(d.index)?.tryNumber[d.mapIndex] ?? 0;
        this.pending.push({
          task_id: graph.tasks[d.index]!.task_id,
          map_index: d.mapIndex,
          state: d.state,
          try_number: tryNumber,
          error: d.reason,
        });
        continue;
      }
      this.pending.push({
        task_id: graph.tasks[d.index]!.task_id,
        map_index: -1,
        state: d.state,
        try_number: graph.tryNumber[d.index]!,
        error: d.reason,
      });
    }
  }

  /** Writes the pending rows (and mapped resets) in one local activity. */
  async flush(): Promise<void> {
    if (this.pending.length === 0 && this.resetMapped.length === 0) return;
    const batch = this.pending;
    const reset = this.resetMapped;
    this.pending = [];
    this.resetMapped = [];
    await local.recordStates({
      dagId: this.dagId,
      runId: this.runId,
      tasks: batch,
      ...(reset.length > 0 ? { resetMapped: reset } : {}),
    });
  }

  /** A task reached a terminal state (with a control task's skips): its downstream tasks are decided. */
  finish(index: number, state: TaskInstanceState, skip?: { indices: number[]; reason: string }): void {
    this.recordDecisions(this.graph.finish(index, state, skip));
    this.changed = true;
  }

  /** A mapped instance reached a terminal state; the mapped task finishes with its last instance. */
  finishInstance(index: number, mapIndex: number, state: TaskInstanceState): void {
    this.recordDecisions(
      this.graph.finishInstance(index, mapIndex, state, (states) => aggregateState(states) as TaskInstanceState),
    );
    if (isFinished(this.graph.state[index]!)) this.activeMapped.delete(index);
    this.changed = true;
  }
}
