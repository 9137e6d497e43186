/**
 * The model gate's pure parts (ML-DESIGN §5): the registry's name rules (shared by the SDK's
 * compile-time checks and the repositories), the spec's snake_case thresholds turned into
 * engine/promotion.ts's, and the reading of a gate's result by the interpreter (promoted, or
 * skip the promoted path with the reason). Sandbox-safe.
 */
import type { Json, ModelGateThresholdSpec } from '../spec/dag-spec.js';
import type { MetricThresholds } from './promotion.js';

/** A registered model's name (MLflow's rule, without `@` or `/`, which address `name@alias`). */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,249}$/;
/** An alias (MLflow's rule): a letter or `_` first; `latest` and `v<digits>` are refused. */
export const ALIAS_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,254}$/;
export const DEFAULT_ALIAS = 'champion';
export const DEFAULT_CHALLENGER_ALIAS = 'challenger';

/** Why `name` is not a model name, or undefined when it is one. */
export function modelNameProblem(name: unknown): string | undefined {
  if (typeof name === 'string' && MODEL_NAME.test(name)) return undefined;
  return `expected a model name of 1..250 of A-Z a-z 0-9 _ . - (starting with a letter or digit), got ${JSON.stringify(name) ?? String(name)}`;
}

/** Why `alias` is not an alias, or undefined when it is one. */
export function aliasNameProblem(alias: unknown): string | undefined {
  if (
    typeof alias === 'string' &&
    ALIAS_NAME.test(alias) &&
    !/^[vV][0-9]+$/.test(alias) &&
    alias.toLowerCase() !== 'latest'
  )
    return undefined;
  return `expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got ${JSON.stringify(alias) ?? String(alias)}`;
}

/** The spec's thresholds (MLflow's snake_case MetricThreshold fields) as engine/promotion.ts takes them. */
export function thresholdsFromSpec(spec: Readonly<Record<string, ModelGateThresholdSpec>>): MetricThresholds {
  const out: Record<string, MetricThresholds[string]> = {};
  for (const [metric, t] of Object.entries(spec)) {
    out[metric] = {
      ...(t.threshold === undefined ? {} : { threshold: t.threshold }),
      ...(t.min_absolute_change === undefined ? {} : { minAbsoluteChange: t.min_absolute_change }),
      ...(t.min_relative_change === undefined ? {} : { minRelativeChange: t.min_relative_change }),
      greaterIsBetter: t.greater_is_better,
    };
  }
  return out;
}

/** engine/promotion.ts's thresholds in the spec's snake_case. */
export function thresholdsToSpec(thresholds: MetricThresholds): Record<string, ModelGateThresholdSpec> {
  const out: Record<string, ModelGateThresholdSpec> = {};
  for (const [metric, t] of Object.entries(thresholds)) {
    out[metric] = {
      ...(t.threshold === undefined ? {} : { threshold: t.threshold }),
      ...(t.minAbsoluteChange === undefined ? {} : { min_absolute_change: t.minAbsoluteChange }),
      ...(t.minRelativeChange === undefined ? {} : { min_relative_change: t.minRelativeChange }),
      greater_is_better: t.greaterIsBetter,
    };
  }
  return out;
}

/**
 * What a gate did, as its XCom carries it: `promoted` (the alias moved to the candidate),
 * `unchanged` (the alias already pointed at it), `rejected` (the evaluation failed; the candidate
 * got the challenger alias) or `lost` (it passed, but another promotion moved the alias first).
 */
export type GateOutcome = 'promoted' | 'unchanged' | 'rejected' | 'lost';

/**
 * The interpreter's reading of a gate's result: whether its promoted path proceeds, and the skip
 * reason when not. A result it cannot read (a DAG edited mid-run) does not proceed.
 */
export function gateVerdict(taskId: string, value: Json | undefined): { proceed: boolean; reason: string } {
  const v = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  const outcome = v.outcome;
  if (outcome === 'promoted' || outcome === 'unchanged') return { proceed: true, reason: '' };
  const reason =
    typeof v.reason === 'string' && v.reason !== ''
      ? v.reason
      : `its result has no outcome (${JSON.stringify(outcome ?? null)})`;
  return { proceed: false, reason: `skipped by model gate "${taskId}": ${reason}` };
}
