/**
 * Airflow's trigger-rule evaluation, as the scheduler runs it (`TriggerRuleDep` in
 * airflow-core/src/airflow/ti_deps/deps/trigger_rule_dep.py, with `flag_upstream_failed=True`).
 *
 * Airflow evaluates in two steps and we keep that order, because it decides what wins:
 *  1. the "flag" step may set the task to SKIPPED or UPSTREAM_FAILED, often without waiting for
 *     the remaining upstreams (all_success fails fast, all_failed skips on the first success, ...);
 *  2. only if no state was set, the pass check decides between "run" and "wait".
 *
 * Deviation, on purpose: `removed` upstream TIs (mapped indexes that disappeared) are always taken
 * out of `total` and `done`. Airflow does that only when the evaluated TI is itself mapped
 * (`map_index > -1`); for an unmapped TI a removed upstream blocks all_success forever.
 *
 * Not covered here (the workflow owns them): `wait_for_past_depends_before_skipping`, and the
 * REMOVED state Airflow gives mapped TIs whose index is beyond the upstream's successes.
 *
 * Hot path: the workflow calls this for every candidate task of 10,000-task DAGs inside one
 * activation, so "run" and "wait" are shared frozen objects and only skip/upstream_failed allocate.
 */
import { TRIGGER_RULE_ALIASES, TRIGGER_RULES, TriggerRule } from '../spec/trigger-rule.js';
import { SemanticsInputError } from './errors.js';

/** Counts over the direct upstream task instances of the task being evaluated. */
export interface UpstreamCounts {
  readonly success: number;
  readonly skipped: number;
  readonly failed: number;
  readonly upstream_failed: number;
  readonly removed: number;
  /** Upstream TIs in a finished state (success, skipped, failed, upstream_failed, removed). */
  readonly done: number;
  /** Number of upstream TIs, finished or not. */
  readonly total: number;
}

export interface TriggerRuleOptions {
  /**
   * Counts over the direct upstreams that are setup tasks (a subset of `counts`). Only
   * `all_done_setup_success` (the teardown rule) reads it; absent means "no direct setups".
   */
  readonly setupCounts?: UpstreamCounts | undefined;
  /**
   * Counts over the setups whose scope contains this task but that are not direct upstreams.
   * Airflow gives such tasks an implicit all_success on them: a failed one means upstream_failed,
   * a skipped one means skipped, an unfinished one means wait. Ignored for teardowns.
   */
  readonly indirectSetupCounts?: UpstreamCounts | undefined;
  /** Teardowns have no indirect-setup constraint (Airflow: "a teardown cannot have any indirect setups"). */
  readonly isTeardown?: boolean | undefined;
}

export type TriggerDecision =
  | { readonly decision: 'run' }
  | { readonly decision: 'wait' }
  | { readonly decision: 'skip'; readonly reason: string }
  | { readonly decision: 'upstream_failed'; readonly reason: string };

const RUN: TriggerDecision = Object.freeze({ decision: 'run' });
const WAIT: TriggerDecision = Object.freeze({ decision: 'wait' });

function skip(reason: string, rule: string): TriggerDecision {
  return { decision: 'skip', reason: `${reason} (trigger_rule=${rule})` };
}

function upstreamFailed(reason: string, rule: string): TriggerDecision {
  return { decision: 'upstream_failed', reason: `${reason} (trigger_rule=${rule})` };
}

/** "1 of 3 upstreams failed", naming failed and upstream_failed separately when both occur. */
function failedPhrase(failed: number, upstreamFailedCount: number, total: number, noun: string): string {
  if (upstreamFailedCount === 0) return `${failed} of ${total} ${noun} failed`;
  if (failed === 0) return `${upstreamFailedCount} of ${total} ${noun} were upstream_failed`;
  return `${failed + upstreamFailedCount} of ${total} ${noun} failed (failed=${failed}, upstream_failed=${upstreamFailedCount})`;
}

/**
 * Resolves a trigger rule name, accepting Airflow 2.x aliases (`dummy`, `none_failed_or_skipped`).
 * Throws `SemanticsInputError` for anything else.
 */
export function normalizeTriggerRule(rule: string): TriggerRule {
  if ((TRIGGER_RULES as readonly string[]).includes(rule)) return rule as TriggerRule;
  // hasOwnProperty: a plain lookup would resolve "constructor" and friends from Object.prototype.
  if (Object.prototype.hasOwnProperty.call(TRIGGER_RULE_ALIASES, rule)) return TRIGGER_RULE_ALIASES[rule]!;
  throw new SemanticsInputError(
    `trigger_rule: expected one of ${TRIGGER_RULES.join(', ')} (or a 2.x alias: ${Object.keys(TRIGGER_RULE_ALIASES).join(', ')}), got ${JSON.stringify(rule)}`,
    'trigger_rule',
  );
}

/**
 * Decides whether a task whose upstreams are in the given states runs now, keeps waiting, or is
 * finished by the scheduler as skipped / upstream_failed. O(1): the caller keeps the counts.
 */
export function evaluateTriggerRule(
  ruleName: TriggerRule | string,
  counts: UpstreamCounts,
  opts?: TriggerRuleOptions,
): TriggerDecision {
  // Canonical names take the switch (no allocation, no lookup); anything else is an alias or an error.
  let rule: TriggerRule;
  switch (ruleName) {
    case TriggerRule.ALL_SUCCESS:
    case TriggerRule.ALL_FAILED:
    case TriggerRule.ALL_DONE:
    case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
    case TriggerRule.ALL_DONE_SETUP_SUCCESS:
    case TriggerRule.ONE_SUCCESS:
    case TriggerRule.ONE_FAILED:
    case TriggerRule.ONE_DONE:
    case TriggerRule.NONE_FAILED:
    case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
    case TriggerRule.NONE_SKIPPED:
    case TriggerRule.ALL_SKIPPED:
    case TriggerRule.ALWAYS:
      rule = ruleName;
      break;
    default:
      rule = normalizeTriggerRule(ruleName);
  }
  // Airflow's TriggerRuleDep passes before looking at anything else in these two cases.
  if (counts.total === 0 || rule === TriggerRule.ALWAYS) return RUN;

  let setupsPending = false;
  const scope = opts?.isTeardown ? undefined : opts?.indirectSetupCounts;
  if (scope !== undefined && scope.total - scope.removed > 0) {
    // _evaluate_setup_constraint: fail or skip fast on any relevant setup, like all_success.
    const setups = scope.total - scope.removed;
    if (scope.failed > 0 || scope.upstream_failed > 0) {
      return upstreamFailed(
        `setup task failed: ${failedPhrase(scope.failed, scope.upstream_failed, setups, 'setups in scope')}`,
        rule,
      );
    }
    if (scope.skipped > 0) {
      return skip(`setup task skipped: ${scope.skipped} of ${setups} setups in scope skipped`, rule);
    }
    setupsPending = scope.success < setups;
  }

  const decision = evaluateDirect(rule, counts, opts?.setupCounts);
  // A state set by the direct rule wins over a merely pending setup (Airflow yields both statuses
  // but the TI state was already changed); otherwise pending setups hold a runnable task back.
  return setupsPending && decision === RUN ? WAIT : decision;
}

function evaluateDirect(
  rule: TriggerRule,
  c: UpstreamCounts,
  setupCounts: UpstreamCounts | undefined,
): TriggerDecision {
  const { success, skipped, failed } = c;
  const upFailed = c.upstream_failed;
  const total = c.total - c.removed;
  const done = c.done - c.removed;
  const upstreamDone = done >= total;

  switch (rule) {
    case TriggerRule.ALL_SUCCESS:
      if (failed > 0 || upFailed > 0) {
        return upstreamFailed(`upstream task failed: ${failedPhrase(failed, upFailed, total, 'upstreams')}`, rule);
      }
      if (skipped > 0) return skip(`upstream task skipped: ${skipped} of ${total} upstreams skipped`, rule);
      return total - success > 0 ? WAIT : RUN;

    case TriggerRule.ALL_FAILED:
      if (success > 0 || skipped > 0) {
        return skip(
          `upstream task did not fail: ${success + skipped} of ${total} upstreams succeeded or skipped (success=${success}, skipped=${skipped})`,
          rule,
        );
      }
      return total - failed - upFailed > 0 ? WAIT : RUN;

    case TriggerRule.ALL_DONE:
      return upstreamDone ? RUN : WAIT;

    case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: {
      // Airflow skips as soon as any upstream is skipped ("skipped tasks are not considered done").
      if (skipped > 0) return skip(`upstream task skipped: ${skipped} of ${total} upstreams skipped`, rule);
      const nonSkippedDone = success + failed + upFailed;
      if (nonSkippedDone >= total && success === 0) {
        return upstreamFailed(`no upstream task succeeded: all ${total} upstreams done, 0 succeeded`, rule);
      }
      return nonSkippedDone < total ? WAIT : RUN;
    }

    case TriggerRule.ALL_DONE_SETUP_SUCCESS: {
      const setups = setupCounts === undefined ? 0 : setupCounts.total - setupCounts.removed;
      const setupSuccess = setupCounts?.success ?? 0;
      const setupSkipped = setupCounts?.skipped ?? 0;
      if (upstreamDone && setups > 0 && setupSkipped >= setups) {
        return skip(`all setup tasks skipped: ${setupSkipped} of ${setups} direct setups skipped`, rule);
      }
      if (upstreamDone && setups > 0 && setupSuccess === 0) {
        return upstreamFailed(`no setup task succeeded: 0 of ${setups} direct setups succeeded`, rule);
      }
      return upstreamDone ? RUN : WAIT;
    }

    case TriggerRule.ONE_SUCCESS:
      if (upstreamDone && done === skipped) {
        return skip(`all upstream tasks skipped: ${skipped} of ${total} upstreams skipped`, rule);
      }
      if (upstreamDone && success <= 0) {
        return upstreamFailed(
          `no upstream task succeeded: 0 of ${total} upstreams succeeded (failed=${failed}, upstream_failed=${upFailed}, skipped=${skipped})`,
          rule,
        );
      }
      return success > 0 ? RUN : WAIT;

    case TriggerRule.ONE_FAILED:
      if (upstreamDone && failed === 0 && upFailed === 0) {
        return skip(`no upstream task failed: 0 of ${total} upstreams failed`, rule);
      }
      return failed > 0 || upFailed > 0 ? RUN : WAIT;

    case TriggerRule.ONE_DONE:
      if (upstreamDone && failed === 0 && success === 0) {
        return skip(
          `no upstream task succeeded or failed: 0 of ${total} upstreams succeeded or failed (skipped=${skipped}, upstream_failed=${upFailed})`,
          rule,
        );
      }
      return success + failed > 0 ? RUN : WAIT;

    case TriggerRule.NONE_FAILED:
      if (failed > 0 || upFailed > 0) {
        return upstreamFailed(`upstream task failed: ${failedPhrase(failed, upFailed, total, 'upstreams')}`, rule);
      }
      return total - success - skipped > 0 ? WAIT : RUN;

    case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
      if (failed > 0 || upFailed > 0) {
        return upstreamFailed(`upstream task failed: ${failedPhrase(failed, upFailed, total, 'upstreams')}`, rule);
      }
      if (skipped === total) return skip(`all upstream tasks skipped: ${skipped} of ${total} upstreams skipped`, rule);
      return total - success - skipped > 0 ? WAIT : RUN;

    case TriggerRule.NONE_SKIPPED:
      if (skipped > 0) return skip(`upstream task skipped: ${skipped} of ${total} upstreams skipped`, rule);
      return upstreamDone ? RUN : WAIT;

    case TriggerRule.ALL_SKIPPED:
      if (success > 0 || failed > 0 || upFailed > 0) {
        return skip(
          `upstream task not skipped: ${success + failed + upFailed} of ${total} upstreams succeeded or failed (success=${success}, failed=${failed}, upstream_failed=${upFailed})`,
          rule,
        );
      }
      return total - skipped > 0 ? WAIT : RUN;

    case TriggerRule.ALWAYS:
      return RUN;
  }
}
