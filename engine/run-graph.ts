/**
 * The pure core of the DAG-run interpreter: per-task state, incremental upstream counts and trigger
 * rule decisions. The workflow owns time, activities and messages; this owns "what may run next".
 * No Temporal imports, no I/O: it is unit-tested directly and replayed deterministically.
 *
 * Tasks are addressed by index into `spec.tasks` (topological order) so hot paths use arrays.
 */
import { aggregateState } from './mapping.js';
import { computeDagRunState, dagRunStateLeaves, evaluateTriggerRule, type TriggerRuleOptions } from './index.js';
import type { DagSpec, TaskSpec } from '../spec/dag-spec.js';
import { TaskInstanceState, isFinished } from '../spec/states.js';

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
  /** Set for an instance of a mapped task group member (decided by its in-group upstream instances). */
  mapIndex?: number;
  state: typeof TaskInstanceState.SKIPPED | typeof TaskInstanceState.UPSTREAM_FAILED;
  reason: string;
}

/** Shared options for DAGs without setups: the hot path allocates nothing. */
const NO_SETUPS: TriggerRuleOptions = Object.freeze({});

function emptyCounts(total = 0): UpstreamCounts {
  return { success: 0, skipped: 0, failed: 0, upstream_failed: 0, removed: 0, done: 0, total };
}

function count(c: UpstreamCounts, state: TaskInstanceState): void {
  c.done++;
  if (state === TaskInstanceState.SUCCESS) c.success++;
  else if (state === TaskInstanceState.SKIPPED) c.skipped++;
  else if (state === TaskInstanceState.FAILED) c.failed++;
  else if (state === TaskInstanceState.UPSTREAM_FAILED) c.upstream_failed++;
  else if (state === TaskInstanceState.REMOVED) c.removed++;
}

export interface CarriedTaskState {
  state: TaskInstanceState;
  try_number: number;
  /** Tries before the last clear (absent: 0): the task may try `retries + 1` times after it. */
  try_base?: number;
  /** A mapped task that was expanded: its instances, compactly (carriedMapped / MappedInstances). */
  mapped?: CarriedMapped;
}

/**
 * A mapped task's instances across continue-as-new: `states` holds one character per instance
 * (STATE_CODES); `tries` the try numbers, run-length encoded as [count, try] pairs. 10,000
 * instances take ~10 KB.
 */
export interface CarriedMapped {
  n: number;
  states: string;
  tries: number[];
}

/** One character per instance state in CarriedMapped.states (in-flight ones restart from none). */
const STATE_CODES: Record<string, string> = {
  none: 'n',
  success: 's',
  failed: 'f',
  skipped: 'k',
  upstream_failed: 'u',
  removed: 'r',
};
const CODE_STATES: Record<string, TaskInstanceState> = Object.fromEntries(
  Object.entries(STATE_CODES).map(([state, code]) => [code, state as TaskInstanceState]),
);

/** Instance states and try numbers in CarriedMapped's compact form. */
export function encodeMapped(states: readonly TaskInstanceState[], tryNumbers: readonly number[]): CarriedMapped {
  let codes = '';
  const tries: number[] = [];
  for (let i = 0; i < states.length; i++) {
    codes += STATE_CODES[states[i]!] ?? 'n';
    const t = tryNumbers[i]!;
    if (tries.length > 0 && tries[tries.length - 1] === t) tries[tries.length - 2]!++;
    else tries.push(1, t);
  }
  return { n: states.length, states: codes, tries };
}

/** The instances of an expanded mapped task. */
export interface MappedInstances {
  n: number;
  state: TaskInstanceState[];
  tryNumber: number[];
  /** Instances finished so far. */
  finished: number;
  /** Lowest map index that may still be in `none` (scheduling scans from here). */
  cursor: number;
  /**
   * Members of a mapped task group with upstream tasks in the group: each instance waits for the
   * same map_index of those (Airflow), so each has its own counts and is handed out once its
   * trigger rule says run.
   */
  gate?: { counts: UpstreamCounts[]; decided: Uint8Array; queue: number[] };
}

export class RunGraph {
  readonly tasks: readonly TaskSpec[];
  readonly indexOf: ReadonlyMap<string, number>;
  readonly state: TaskInstanceState[];
  readonly tryNumber: number[];
  /** Per task: its try number when it was last cleared (0: never); tries allowed = base + retries + 1. */
  readonly tryBase: number[];
  /** Every edge (reachability: branches, short-circuits, setup scopes). */
  private readonly upstreamIdx: number[][];
  private readonly downstreamIdx: number[][];
  /**
   * The edges trigger rules count at task level: every edge except those between two tasks of the
   * same mapped task group, which are per instance (`instanceUp` / `instanceDown`).
   */
  private readonly countUp: number[][];
  private readonly countDown: number[][];
  /** Per task in a mapped task group: its upstream / downstream tasks in the same group (same map_index). */
  private readonly instanceUp: number[][];
  private readonly instanceDown: number[][];
  /** Decisions made inside setFinished (instance cascades), handed out by the next public call. */
  private spill: AutoDecision[] = [];
  private readonly counts: UpstreamCounts[];
  /** Tasks whose trigger rule said "run" and that have not been handed out yet. */
  private readonly ready: number[] = [];
  /** Airflow's effective leaves (teardown leaves without on_failure_fail_dagrun do not count). */
  private readonly isLeaf: boolean[];
  private readonly isSetup: boolean[];
  private readonly isTeardown: boolean[];
  /** Per task: trigger-rule options with its (mutable) setup counts; NO_SETUPS when the DAG has none. */
  private readonly ruleOptions: TriggerRuleOptions[];
  /** Counts over direct upstream setups (teardowns read them); only when the DAG has setups. */
  private readonly setupCounts: UpstreamCounts[] | null;
  /** Counts over indirect setups in scope (implicit all_success); only when the DAG has setups. */
  private readonly indirectCounts: UpstreamCounts[] | null;
  /** Per setup: the tasks that have it as an indirect setup (re-evaluated when it finishes). */
  private readonly scopeOf: number[][] | null;
  private unfinished: number;
  /** Expanded mapped tasks by index: their instances (downstream tasks count these, not the task). */
  readonly mapped = new Map<number, MappedInstances>();

  constructor(spec: Pick<DagSpec, 'tasks'>, carried?: readonly CarriedTaskState[]) {
    this.tasks = spec.tasks;
    const n = spec.tasks.length;
    const indexOf = new Map<string, number>();
    spec.tasks.forEach((t, i) => indexOf.set(t.task_id, i));
    this.indexOf = indexOf;
    this.upstreamIdx = spec.tasks.map((t) => t.upstream.map((u) => indexOf.get(u)!));
    this.downstreamIdx = spec.tasks.map((t) => t.downstream.map((d) => indexOf.get(d)!));
    this.instanceUp = spec.tasks.map((t) =>
      t.mapped?.kind === 'group' ? t.mapped.instance_upstream.map((u) => indexOf.get(u)!) : [],
    );
    this.instanceDown = spec.tasks.map(() => []);
    this.instanceUp.forEach((ups, i) => ups.forEach((u) => this.instanceDown[u]!.push(i)));
    if (this.instanceUp.some((ups) => ups.length > 0)) {
      this.countUp = this.upstreamIdx.map((ups, i) => ups.filter((u) => !this.instanceUp[i]!.includes(u)));
      this.countDown = this.downstreamIdx.map((downs, i) => downs.filter((d) => !this.instanceDown[i]!.includes(d)));
    } else {
      this.countUp = this.upstreamIdx;
      this.countDown = this.downstreamIdx;
    }
    this.isSetup = spec.tasks.map((t) => t.is_setup === true);
    this.isTeardown = spec.tasks.map((t) => t.is_teardown === true);
    this.isLeaf = this.isTeardown.some(Boolean)
      ? dagRunStateLeaves(
          spec.tasks.map((t) => ({
            task_id: t.task_id,
            downstream_task_ids: t.downstream,
            is_teardown: t.is_teardown === true,
            on_failure_fail_dagrun: t.on_failure_fail_dagrun === true,
          })),
        )
      : spec.tasks.map((t) => t.downstream.length === 0);
    this.state = new Array<TaskInstanceState>(n).fill(TaskInstanceState.NONE);
    this.tryNumber = new Array<number>(n).fill(0);
    this.tryBase = new Array<number>(n).fill(0);
    this.counts = this.countUp.map((ups) => emptyCounts(ups.length));
    if (this.isSetup.some(Boolean)) {
      this.setupCounts = this.countUp.map((ups) => emptyCounts(ups.filter((u) => this.isSetup[u]).length));
      const scope = this.setupScopes();
      this.scopeOf = scope.scopeOf;
      this.indirectCounts = scope.indirect.map((setups) => emptyCounts(setups.length));
      this.ruleOptions = spec.tasks.map((_, i) => ({
        setupCounts: this.setupCounts![i],
        indirectSetupCounts: this.indirectCounts![i],
        isTeardown: this.isTeardown[i],
      }));
    } else {
      this.setupCounts = null;
      this.indirectCounts = null;
      this.scopeOf = null;
      this.ruleOptions = new Array<TriggerRuleOptions>(n).fill(NO_SETUPS);
    }
    this.unfinished = n;
    if (carried) {
      carried.forEach((c, i) => {
        this.tryNumber[i] = c.try_number;
        this.tryBase[i] = c.try_base ?? 0;
        if (c.mapped) this.restoreMapped(i, c.mapped);
        // In-flight states cannot be carried (the carrier drains first); restart them from none.
        if (isFinished(c.state)) this.setFinished(i, c.state);
      });
      for (const [i, m] of this.mapped) if (m.gate) this.gateCounts(i);
      // Gated instances are evaluated by evaluateAll, which the workflow calls next.
      this.spill = [];
    }
  }

  /**
   * Airflow's setup scope (`get_upstreams_only_setups`): setup S is relevant to task T when S is
   * upstream of T and S has no teardown or one of S's teardowns is downstream of T. Indirect =
   * relevant and not a direct upstream. Teardowns have none. O(setups × (tasks + edges)).
   */
  private setupScopes(): { indirect: number[][]; scopeOf: number[][] } {
    const n = this.tasks.length;
    const indirect: number[][] = Array.from({ length: n }, () => []);
    const scopeOf: number[][] = Array.from({ length: n }, () => []);
    for (let s = 0; s < n; s++) {
      if (!this.isSetup[s]) continue;
      const below = this.reach(s, this.downstreamIdx);
      const teardowns = this.downstreamIdx[s]!.filter((d) => this.isTeardown[d]);
      let relevant = below;
      if (teardowns.length > 0) {
        const above = new Set<number>();
        for (const td of teardowns) for (const a of this.reach(td, this.upstreamIdx)) above.add(a);
        relevant = below.filter((t) => above.has(t));
      }
      const direct = new Set(this.downstreamIdx[s]);
      for (const t of relevant) {
        if (this.isTeardown[t] || direct.has(t)) continue;
        indirect[t]!.push(s);
        scopeOf[s]!.push(t);
      }
    }
    return { indirect, scopeOf };
  }

  /** Every task reachable from `from` (excluded) along `edges`, in index order. */
  private reach(from: number, edges: readonly number[][]): number[] {
    const seen = new Uint8Array(this.tasks.length);
    const stack = [...edges[from]!];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (seen[i]) continue;
      seen[i] = 1;
      for (const j of edges[i]!) if (!seen[j]) stack.push(j);
    }
    const out: number[] = [];
    for (let i = 0; i < seen.length; i++) if (seen[i]) out.push(i);
    return out;
  }

  /**
   * A mapped task expanded into `n` instances (n ≥ 1): from now on its downstream tasks count n
   * upstream task instances for it (Airflow counts TIs), each as it finishes.
   */
  expandMapped(index: number, n: number): AutoDecision[] {
    if (this.mapped.has(index)) return [];
    const m: MappedInstances = {
      // Instances start from the task's try number: 0, or the highest instance try before a clear.
      n,
      state: new Array<TaskInstanceState>(n).fill(TaskInstanceState.NONE),
      tryNumber: new Array<number>(n).fill(this.tryNumber[index]!),
      finished: 0,
      cursor: 0,
    };
    this.mapped.set(index, m);
    for (const d of this.countDown[index]!) this.counts[d]!.total += n - 1;
    const decisions: AutoDecision[] = [];
    if (this.instanceUp[index]!.length > 0) {
      m.gate = { counts: [], decided: new Uint8Array(n), queue: [] };
      this.gateCounts(index);
      for (let k = 0; k < n; k++) this.evaluateInstance(index, k, decisions);
    }
    return decisions;
  }

  /** An in-group upstream's state for map_index k: its instance's, or its own if it never expanded. */
  private instanceUpstreamState(u: number, k: number): TaskInstanceState {
    const m = this.mapped.get(u);
    return m ? (m.state[k] ?? TaskInstanceState.REMOVED) : this.state[u]!;
  }

  /** (Re)builds a gated task's per-instance counts: its task-level counts plus its in-group upstream instances. */
  private gateCounts(index: number): void {
    const m = this.mapped.get(index)!;
    const base = this.counts[index]!;
    m.gate!.counts = [];
    for (let k = 0; k < m.n; k++) {
      const c = { ...base, total: base.total + this.instanceUp[index]!.length };
      for (const u of this.instanceUp[index]!) {
        const s = this.instanceUpstreamState(u, k);
        if (isFinished(s)) count(c, s);
      }
      m.gate!.counts.push(c);
    }
  }

  /** A gated instance's trigger rule: run (queued for takeInstances), skip or upstream_failed (decided here). */
  private evaluateInstance(index: number, k: number, decisions: AutoDecision[]): void {
    const m = this.mapped.get(index)!;
    if (m.gate!.decided[k] || m.state[k] !== TaskInstanceState.NONE) return;
    const verdict = evaluateTriggerRule(this.tasks[index]!.trigger_rule, m.gate!.counts[k]!, this.ruleOptions[index]);
    if (verdict.decision === 'wait') return;
    m.gate!.decided[k] = 1;
    if (verdict.decision === 'run') {
      m.gate!.queue.push(k);
      return;
    }
    const state = verdict.decision === 'skip' ? TaskInstanceState.SKIPPED : TaskInstanceState.UPSTREAM_FAILED;
    decisions.push({ index, mapIndex: k, state, reason: verdict.reason });
    decisions.push(...this.finishInstance(index, k, state));
  }

  /** An in-group upstream finished for map_index k (or for all, `k` null): re-evaluate the gated instances. */
  private instanceUpstreamFinished(
    u: number,
    k: number | null,
    state: TaskInstanceState,
    decisions: AutoDecision[],
  ): void {
    for (const d of this.instanceDown[u]!) {
      const m = this.mapped.get(d);
      if (!m?.gate) continue; // not expanded yet: it reads the state when it expands
      for (let i = k ?? 0; i < (k === null ? m.n : k + 1); i++) {
        if (i >= m.n) break;
        count(m.gate.counts[i]!, state);
        this.evaluateInstance(d, i, decisions);
      }
    }
  }

  /** Instance in-flight transitions (running, up_for_retry). */
  markInstance(index: number, mapIndex: number, state: TaskInstanceState, tryNumber: number): void {
    const m = this.mapped.get(index)!;
    m.state[mapIndex] = state;
    m.tryNumber[mapIndex] = tryNumber;
  }

  /** Hands out up to `max` instances of a mapped task still in `none`, in map_index order. */
  takeInstances(index: number, max: number): number[] {
    const m = this.mapped.get(index)!;
    const out: number[] = [];
    if (m.gate) {
      while (out.length < max && m.gate.queue.length > 0) {
        const k = m.gate.queue.shift()!;
        if (m.state[k] !== TaskInstanceState.NONE) continue;
        m.state[k] = TaskInstanceState.SCHEDULED;
        out.push(k);
      }
      return out;
    }
    while (out.length < max && m.cursor < m.n) {
      if (m.state[m.cursor] === TaskInstanceState.NONE) {
        m.state[m.cursor] = TaskInstanceState.SCHEDULED;
        out.push(m.cursor);
      }
      m.cursor++;
    }
    return out;
  }

  /**
   * One instance finished: downstream tasks count it and are re-evaluated (so one_success and
   * early upstream_failed act per instance, as in Airflow). When the last instance finishes the
   * task itself finishes with the aggregate state (`aggregate(states)`), without counting again.
   */
  finishInstance(
    index: number,
    mapIndex: number,
    state: TaskInstanceState,
    aggregate: (states: readonly TaskInstanceState[]) => TaskInstanceState = (states) =>
      aggregateState(states) as TaskInstanceState,
  ): AutoDecision[] {
    const m = this.mapped.get(index)!;
    if (isFinished(m.state[mapIndex]!)) return [];
    m.state[mapIndex] = state;
    m.finished++;
    for (const d of this.countDown[index]!) count(this.counts[d]!, state);
    const decisions: AutoDecision[] = [];
    if (m.finished === m.n) this.setFinished(index, aggregate(m.state));
    this.propagate(index, decisions);
    this.instanceUpstreamFinished(index, mapIndex, state, decisions);
    return this.drain(decisions);
  }

  /** Appends the decisions setFinished cascaded meanwhile. */
  private drain(decisions: AutoDecision[]): AutoDecision[] {
    if (this.spill.length === 0) return decisions;
    const spilled = this.spill;
    this.spill = [];
    decisions.push(...spilled);
    return decisions;
  }

  /** Compact instance states for continue-as-new (in-flight instances restart from none). */
  carriedMapped(index: number): CarriedMapped | undefined {
    const m = this.mapped.get(index);
    return m ? encodeMapped(m.state, m.tryNumber) : undefined;
  }

  private restoreMapped(index: number, c: CarriedMapped): void {
    this.mapped.set(index, {
      n: c.n,
      state: new Array<TaskInstanceState>(c.n).fill(TaskInstanceState.NONE),
      tryNumber: new Array<number>(c.n).fill(0),
      finished: 0,
      cursor: 0,
      ...(this.instanceUp[index]!.length > 0 ? { gate: { counts: [], decided: new Uint8Array(c.n), queue: [] } } : {}),
    });
    for (const d of this.countDown[index]!) this.counts[d]!.total += c.n - 1;
    const m = this.mapped.get(index)!;
    let at = 0;
    for (let p = 0; p < c.tries.length; p += 2)
      for (let k = 0; k < c.tries[p]!; k++) m.tryNumber[at++] = c.tries[p + 1]!;
    for (let i = 0; i < c.n; i++) {
      const state = CODE_STATES[c.states[i] ?? 'n'] ?? TaskInstanceState.NONE;
      if (!isFinished(state)) continue;
      m.state[i] = state;
      m.finished++;
      for (const d of this.countDown[index]!) count(this.counts[d]!, state);
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
      const m = this.mapped.get(i);
      if (m?.gate) for (let k = 0; k < m.n; k++) this.evaluateInstance(i, k, decisions);
    }
    return this.drain(decisions);
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
  finish(
    index: number,
    state: TaskInstanceState,
    skip?: { indices: readonly number[]; reason: string },
  ): AutoDecision[] {
    const decisions: AutoDecision[] = [];
    this.setFinished(index, state);
    // A control task's skips land before its downstream tasks are evaluated (Airflow skips them
    // inside the task's execute, before the task's own success is recorded).
    const skipped: number[] = [];
    for (const i of skip?.indices ?? []) {
      if (!this.notStarted(i)) continue;
      const at = this.ready.indexOf(i);
      if (at >= 0) this.ready.splice(at, 1);
      this.state[i] = TaskInstanceState.NONE;
      this.setFinished(i, TaskInstanceState.SKIPPED);
      decisions.push({ index: i, state: TaskInstanceState.SKIPPED, reason: skip!.reason });
      skipped.push(i);
    }
    this.propagate(index, decisions);
    for (const i of skipped) this.propagate(i, decisions);
    return this.drain(decisions);
  }

  /** Not handed out yet: in `none`, or runnable but still in the ready list. */
  notStarted(index: number): boolean {
    const s = this.state[index];
    return s === TaskInstanceState.NONE || (s === TaskInstanceState.SCHEDULED && this.ready.includes(index));
  }

  /**
   * What a branch skips (Airflow's SkipMixin.skip_all_except): every direct downstream task that
   * is neither followed nor downstream of a followed task, if not started yet.
   */
  branchSkips(index: number, follow: readonly string[]): number[] {
    const followed = new Set<number>();
    for (const id of follow) {
      const f = this.indexOf.get(id);
      if (f === undefined) continue;
      followed.add(f);
      for (const d of this.reach(f, this.downstreamIdx)) followed.add(d);
    }
    return this.downstreamIdx[index]!.filter((d) => !followed.has(d) && this.notStarted(d));
  }

  /**
   * What a falsy short-circuit skips (Airflow's ShortCircuitOperator): every downstream task, or
   * only the direct ones when trigger rules are to decide the rest; never teardowns.
   */
  shortCircuitSkips(index: number, ignoreDownstreamTriggerRules: boolean): number[] {
    const candidates = ignoreDownstreamTriggerRules
      ? this.reach(index, this.downstreamIdx)
      : this.downstreamIdx[index]!;
    return candidates.filter((d) => !this.isTeardown[d] && this.notStarted(d));
  }

  /** What a latest-only task skips when the run is not the latest: its direct downstream tasks. */
  latestOnlySkips(index: number): number[] {
    return this.downstreamIdx[index]!.filter((d) => this.notStarted(d));
  }

  /**
   * An operator action (engine/operator-actions.ts) sets tasks' states from outside: `none` clears a
   * task (it runs again; its next try is try_number + 1 and it gets its retries anew), a finished
   * state marks it. None of them may be in flight (the workflow stops their tries first). A mapped
   * task's instances are dropped (a cleared one expands again; its instances' tries continue from
   * the highest). Upstream counts are rebuilt from scratch and every task not started is evaluated
   * again; returns the decisions that cascade (already applied).
   */
  override(changes: ReadonlyArray<{ index: number; state: TaskInstanceState }>): AutoDecision[] {
    for (const { index, state } of changes) {
      const m = this.mapped.get(index);
      if (m) {
        let highest = this.tryNumber[index]!;
        for (const t of m.tryNumber) if (t > highest) highest = t;
        this.tryNumber[index] = highest;
        this.mapped.delete(index);
      }
      if (state === TaskInstanceState.NONE) this.tryBase[index] = this.tryNumber[index]!;
      this.state[index] = state;
    }
    // Handed to the ready list but not started: their upstream counts may have changed.
    for (const i of this.ready) this.state[i] = TaskInstanceState.NONE;
    this.ready.length = 0;
    this.recount();
    return this.evaluateAll();
  }

  /** Rebuilds every upstream count and the unfinished total from the states (operator actions). */
  private recount(): void {
    const reset = (c: UpstreamCounts, total: number): void => {
      c.success = 0;
      c.skipped = 0;
      c.failed = 0;
      c.upstream_failed = 0;
      c.removed = 0;
      c.done = 0;
      c.total = total;
    };
    for (let i = 0; i < this.size; i++) {
      let total = 0;
      for (const u of this.countUp[i]!) total += this.mapped.get(u)?.n ?? 1;
      reset(this.counts[i]!, total);
      if (this.setupCounts !== null) reset(this.setupCounts[i]!, this.setupCounts[i]!.total);
      if (this.indirectCounts !== null) reset(this.indirectCounts[i]!, this.indirectCounts[i]!.total);
    }
    this.unfinished = 0;
    for (let i = 0; i < this.size; i++) {
      const state = this.state[i]!;
      const finished = isFinished(state);
      if (!finished) this.unfinished++;
      const m = this.mapped.get(i);
      if (m) {
        m.finished = 0;
        for (let k = 0; k < m.n; k++) {
          if (!isFinished(m.state[k]!)) continue;
          m.finished++;
          for (const d of this.countDown[i]!) count(this.counts[d]!, m.state[k]!);
        }
      } else if (finished) {
        for (const d of this.countDown[i]!) count(this.counts[d]!, state);
      }
      if (finished && this.setupCounts !== null && this.isSetup[i]) {
        for (const d of this.countDown[i]!) count(this.setupCounts[d]!, state);
        for (const t of this.scopeOf![i]!) count(this.indirectCounts![t]!, state);
      }
    }
    for (const [i, m] of this.mapped) {
      if (!m.gate) continue;
      this.gateCounts(i);
      // Instances not started are decided again (by evaluateAll) from the rebuilt counts.
      for (let k = 0; k < m.n; k++) m.gate.decided[k] = m.state[k] === TaskInstanceState.NONE ? 0 : 1;
      m.gate.queue = [];
    }
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
        is_teardown: this.isTeardown[i]!,
        on_failure_fail_dagrun: t.on_failure_fail_dagrun === true,
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
    // An expanded mapped task's downstream tasks counted its instances one by one already.
    if (!this.mapped.has(index)) for (const d of this.countDown[index]!) count(this.counts[d]!, state);
    if (this.setupCounts !== null && this.isSetup[index]) {
      for (const d of this.countDown[index]!) count(this.setupCounts[d]!, state);
      for (const t of this.scopeOf![index]!) count(this.indirectCounts![t]!, state);
    }
    // A mapped-group member that finished without expanding decides every instance downstream of it in the group.
    if (!this.mapped.has(index) && this.instanceDown[index]!.length > 0) {
      const decided: AutoDecision[] = [];
      this.instanceUpstreamFinished(index, null, state, decided);
      this.spill.push(...decided);
    }
  }

  private propagate(index: number, decisions: AutoDecision[]): void {
    // Iterative, not recursive: a skip can cascade through thousands of tasks.
    const stack = [index];
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (const d of this.countDown[i]!) this.reevaluate(d, decisions, stack);
      // A finished setup also decides the tasks in its scope that are not directly downstream.
      if (this.scopeOf !== null && this.isSetup[i])
        for (const t of this.scopeOf[i]!) this.reevaluate(t, decisions, stack);
    }
  }

  private reevaluate(d: number, decisions: AutoDecision[], stack: number[]): void {
    if (this.state[d] !== TaskInstanceState.NONE) return;
    const before = decisions.length;
    this.evaluate(d, decisions);
    if (decisions.length > before) stack.push(d);
  }

  private evaluate(i: number, decisions: AutoDecision[]): void {
    const task = this.tasks[i]!;
    if (this.instanceUp[i]!.length > 0) {
      // A mapped-group member with upstream tasks in its group: expanded once its other upstream
      // tasks are done; each instance then waits for its own map_index upstream (evaluateInstance).
      const c = this.counts[i]!;
      if (c.done < c.total) return;
      this.state[i] = TaskInstanceState.SCHEDULED;
      this.ready.push(i);
      return;
    }
    const verdict = evaluateTriggerRule(task.trigger_rule, this.counts[i]!, this.ruleOptions[i]);
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
