/**
 * The pure core of the DAG-run interpreter: per-task state, incremental upstream counts and trigger
 * rule decisions. The workflow owns time, activities and messages; this owns "what may run next".
 * No Temporal imports, no I/O: it is unit-tested directly and replayed deterministically.
 *
 * Tasks are addressed by index into `spec.tasks` (topological order) so hot paths use arrays.
 */
import { computeDagRunState, evaluateTriggerRule } from './semantics/index.js';
import type { DagSpec, TaskSpec } from './spec.js';
import { TaskInstanceState, isFinished } from './states.js';

export interface UpstreamCounts {
  success: number;
  skipped: number;
  failed: number;
  upstream_failed: number;
  removed: number;
  done: number;
  total: number;
}

/** A decision the graph made on its own (no activity ran): the workflow records these. */
export interface AutoDecision {
  index: number;
  state: typeof TaskInstanceState.SKIPPED | typeof TaskInstanceState.UPSTREAM_FAILED;
  reason: string;
}

export interface CarriedTaskState {
  state: TaskInstanceState;
  try_number: number;
}

export class RunGraph {
  readonly tasks: readonly TaskSpec[];
  readonly indexOf: ReadonlyMap<string, number>;
  readonly state: TaskInstanceState[];
  readonly tryNumber: number[];
  private readonly upstreamIdx: number[][];
  private readonly downstreamIdx: number[][];
  private readonly counts: UpstreamCounts[];
  /** Tasks whose trigger rule said "run" and that have not been handed out yet. */
  private readonly ready: number[] = [];
  private readonly isLeaf: boolean[];
  private unfinished: number;

  constructor(spec: Pick<DagSpec, 'tasks'>, carried?: readonly CarriedTaskState[]) {
    this.tasks = spec.tasks;
    const n = spec.tasks.length;
    const indexOf = new Map<string, number>();
    spec.tasks.forEach((t, i) => indexOf.set(t.task_id, i));
    this.indexOf = indexOf;
    this.upstreamIdx = spec.tasks.map((t) => t.upstream.map((u) => indexOf.get(u)!));
    this.downstreamIdx = spec.tasks.map((t) => t.downstream.map((d) => indexOf.get(d)!));
    this.isLeaf = spec.tasks.map((t) => t.downstream.length === 0);
    this.state = new Array<TaskInstanceState>(n).fill(TaskInstanceState.NONE);
    this.tryNumber = new Array<number>(n).fill(0);
    this.counts = this.upstreamIdx.map((ups) => ({
      success: 0, skipped: 0, failed: 0, upstream_failed: 0, removed: 0, done: 0, total: ups.length,
    }));
    this.unfinished = n;
    if (carried) {
      carried.forEach((c, i) => {
        this.tryNumber[i] = c.try_number;
        // In-flight states cannot be carried (the carrier drains first); restart them from none.
        if (isFinished(c.state)) this.setFinished(i, c.state);
      });
    }
  }

  get size(): number {
    return this.tasks.length;
  }

  get unfinishedCount(): number {
    return this.unfinished;
  }

  /**
   * Evaluates every task still in `none` (start of a run, or after continue-as-new) and returns
   * decisions made without running anything. Runnable tasks are queued for `takeReady`.
   */
  evaluateAll(): AutoDecision[] {
    const decisions: AutoDecision[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.state[i] === TaskInstanceState.NONE) this.evaluate(i, decisions);
    }
    return decisions;
  }

  /** Hands out up to `max` runnable tasks (highest priority_weight first, then topological order). */
  takeReady(max: number): number[] {
    if (max <= 0 || this.ready.length === 0) return [];
    if (this.ready.length > 1) {
      this.ready.sort((a, b) => this.tasks[b]!.priority_weight - this.tasks[a]!.priority_weight || a - b);
    }
    const taken = this.ready.splice(0, max);
    for (const i of taken) this.state[i] = TaskInstanceState.SCHEDULED;
    return taken;
  }

  get readyCount(): number {
    return this.ready.length;
  }

  /** In-flight transitions the workflow observes (running, up_for_retry); not terminal. */
  markInFlight(index: number, state: TaskInstanceState, tryNumber: number): void {
    this.state[index] = state;
    this.tryNumber[index] = tryNumber;
  }

  /**
   * Records a terminal state and re-evaluates the downstream tasks; returns the skips and
   * upstream_failed decisions that cascade from it (already applied).
   */
  finish(index: number, state: TaskInstanceState): AutoDecision[] {
    const decisions: AutoDecision[] = [];
    this.setFinished(index, state);
    this.propagate(index, decisions);
    return decisions;
  }

  /** The run's state from its leaves, or a deadlock when nothing can make progress. */
  runOutcome(inFlight: number): { state: 'running' | 'success' | 'failed'; reason?: string } {
    if (this.unfinished > 0) {
      if (inFlight === 0 && this.ready.length === 0) {
        const stuck: string[] = [];
        for (let i = 0; i < this.size && stuck.length < 20; i++) {
          if (!isFinished(this.state[i]!)) stuck.push(this.tasks[i]!.task_id);
        }
        return { state: 'failed', reason: `deadlock: ${this.unfinished} task(s) can never run: ${stuck.join(', ')}` };
      }
      return { state: 'running' };
    }
    const result = computeDagRunState({
      tasks: this.tasks.map((t, i) => ({
        task_id: t.task_id,
        state: this.state[i]!,
        is_leaf: this.isLeaf[i]!,
        is_teardown: false,
        on_failure_fail_dagrun: false,
      })),
    });
    return result.state === 'running' ? { state: 'failed', reason: 'no leaf decided the run' } : result;
  }

  countsByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.state) out[s] = (out[s] ?? 0) + 1;
    return out;
  }

  private setFinished(index: number, state: TaskInstanceState): void {
    const previous = this.state[index]!;
    if (isFinished(previous)) return;
    this.state[index] = state;
    this.unfinished--;
    for (const d of this.downstreamIdx[index]!) {
      const c = this.counts[d]!;
      c.done++;
      if (state === TaskInstanceState.SUCCESS) c.success++;
      else if (state === TaskInstanceState.SKIPPED) c.skipped++;
      else if (state === TaskInstanceState.FAILED) c.failed++;
      else if (state === TaskInstanceState.UPSTREAM_FAILED) c.upstream_failed++;
      else if (state === TaskInstanceState.REMOVED) c.removed++;
    }
  }

  private propagate(index: number, decisions: AutoDecision[]): void {
    // Iterative, not recursive: a skip can cascade through thousands of tasks.
    const stack = [index];
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (const d of this.downstreamIdx[i]!) {
        if (this.state[d] !== TaskInstanceState.NONE) continue;
        const before = decisions.length;
        this.evaluate(d, decisions);
        if (decisions.length > before) stack.push(d);
      }
    }
  }

  private evaluate(i: number, decisions: AutoDecision[]): void {
    const task = this.tasks[i]!;
    const verdict = evaluateTriggerRule(task.trigger_rule, this.counts[i]!, {});
    switch (verdict.decision) {
      case 'run':
        this.state[i] = TaskInstanceState.SCHEDULED;
        this.ready.push(i);
        // takeReady flips it to scheduled; keep "none" semantics out of the ready list.
        break;
      case 'skip':
        this.setFinished(i, TaskInstanceState.SKIPPED);
        decisions.push({ index: i, state: TaskInstanceState.SKIPPED, reason: verdict.reason });
        break;
      case 'upstream_failed':
        this.setFinished(i, TaskInstanceState.UPSTREAM_FAILED);
        decisions.push({ index: i, state: TaskInstanceState.UPSTREAM_FAILED, reason: verdict.reason });
        break;
      case 'wait':
        break;
    }
  }
}
