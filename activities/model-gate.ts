/**
 * The executor of model gates (kind 'model_gate'; sdk/model-gate.ts): no user code. It reads the
 * candidate ref and metrics from the task's resolved input, runs the gate's one transaction
 * (db/model-gate.repository.ts), logs what it compared and decided, and returns the
 * ModelGateResult as the XCom; the workflow reads its `outcome` to skip the promoted path.
 * Bad input (a malformed ref, a version of another model, a threshold on a metric the evaluation
 * lacks) fails the try without retries, and nothing is written.
 */
import type { Kysely } from 'kysely';
import type { ArtifactRow, Database } from '../db/database.js';
import type { ArtifactInput } from '../db/artifact.repository.js';
import {
  ArtifactConflictError,
  ArtifactNotFoundError,
  InvalidRecordFieldError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  VersionOfAnotherModelError,
} from '../db/ml-errors.js';
import { runModelGate, type GateCandidate, type ModelGateRecord } from '../db/model-gate.repository.js';
import { thresholdsFromSpec } from '../engine/model-gate.js';
import { EvaluationInputError, parseMetricValues, type MetricValues } from '../engine/promotion.js';
import type { ModelGateResult } from '../sdk/model-gate.js';
import type { Json, ModelGateSpec } from '../spec/dag-spec.js';
import {
  TaskExecutionError,
  specPartOf,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
} from './executors/types.js';

export interface ModelGateDeps {
  db: Kysely<Database>;
}

export function createModelGateExecutor(deps: ModelGateDeps): Executor {
  return { name: 'model_gate', execute: (req) => runGate(deps, req) };
}

/** Errors that are the gate's input's fault: retrying cannot help. */
const INPUT_ERRORS = [
  InvalidRecordFieldError,
  EvaluationInputError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  VersionOfAnotherModelError,
  ArtifactNotFoundError,
  ArtifactConflictError,
];

async function runGate(deps: ModelGateDeps, req: ExecutionRequest): Promise<ExecutionResult> {
  const spec = specPartOf(req, 'model_gate', 'model gate');
  const log = (line: string): void => req.log.write('system', line);
  let record: ModelGateRecord;
  try {
    const input = gateInput(req.input, spec);
    if (input.champion !== undefined)
      log(
        `the evaluation ran against ${input.champion === null ? `no "${spec.promote_to}"` : `${spec.model}@${input.champion}`}: ` +
          `a promotion expects "${spec.promote_to}" ${input.champion === null ? 'still unset' : `still at version ${input.champion}`}`,
      );
    log(
      `model gate for "${spec.model}": candidate ${describeCandidate(input.candidate)}, ` +
        `metrics from ${spec.metrics_from === 'input' ? 'the task input' : 'the candidate version'}, ` +
        `rules on ${Object.keys(spec.thresholds).join(', ')}; a pass moves "${spec.promote_to}"`,
    );
    record = await runModelGate(deps.db, {
      model: spec.model,
      candidate: input.candidate,
      candidateMetrics: input.metrics,
      baseline: input.baseline,
      ...(input.champion === undefined ? {} : { expectedChampion: input.champion }),
      thresholds: thresholdsFromSpec(spec.thresholds),
      promoteTo: spec.promote_to,
      otherwiseAlias: spec.otherwise_alias,
      dag_id: req.dagId,
      run_id: req.runId,
      task_id: req.taskId,
      try_number: req.tryNumber,
      actor: `${req.dagId}/${req.runId}/${req.taskId}`,
    });
  } catch (err) {
    if (INPUT_ERRORS.some((E) => err instanceof E))
      throw new TaskExecutionError(`model gate: ${(err as Error).message}`, 'fail');
    throw err;
  }
  const result = gateResult(spec, record);
  if (record.registered)
    log(`registered ${spec.model}@${record.candidate.version} from artifact ${record.artifact.sha256}`);
  if (record.baselineVersion === null) {
    if (record.evaluation !== null) log(`no "${spec.promote_to}" yet: the thresholds alone decide`);
  } else {
    log(
      `baseline: ${spec.model}@${record.baselineVersion} with metrics ${JSON.stringify(record.baselineMetrics)} (from ${record.baselineMetricsFrom})`,
    );
  }
  log(`candidate metrics: ${JSON.stringify(record.candidateMetrics)}`);
  for (const f of record.result.failures) log(`failed: ${f.message}`);
  if (record.evaluation !== null) log(`evaluation ${record.evaluation.id}: ${record.decision}`);
  log(result.reason);
  return { returnValue: result as unknown as Json, exitCode: null };
}

interface ParsedGateInput {
  candidate: GateCandidate;
  metrics: MetricValues | null;
  baseline: { version: number; metrics: MetricValues } | null;
  /** The champion's version when the evaluation ran (null: none); undefined: not given. */
  champion?: number | null;
}

function isRecord(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(field: string, message: string): never {
  throw new InvalidRecordFieldError(field, message);
}

/** The resolved input, checked: each problem names the field. */
export function gateInput(raw: Json | undefined, spec: ModelGateSpec): ParsedGateInput {
  if (!isRecord(raw)) bad('input', 'expected {candidate, metrics?, baseline?, champion?}');
  const candidate = parseCandidate(raw.candidate);
  let metrics: MetricValues | null = null;
  if (spec.metrics_from === 'input') {
    if (raw.metrics === undefined || raw.metrics === null)
      bad('metrics', "expected the candidate's metrics {name: value}; the evaluation task returned nothing");
    metrics = parseMetricValues(raw.metrics, 'metrics');
  }
  let baseline: ParsedGateInput['baseline'] = null;
  if (raw.baseline !== undefined && raw.baseline !== null) {
    const b = raw.baseline;
    if (!isRecord(b) || typeof b.version !== 'number' || !Number.isInteger(b.version) || b.version < 1) {
      bad(
        'baseline',
        "expected {version, metrics}: the champion's version and its metrics on the same evaluation data",
      );
    }
    baseline = { version: b.version as number, metrics: parseMetricValues(b.metrics, 'baseline.metrics') };
  }
  // The key is there when the DAG gave the option; its value is null when there was no champion.
  if (!('champion' in raw)) return { candidate, metrics, baseline };
  return { candidate, metrics, baseline, champion: parseChampion(raw.champion, spec) };
}

/** d.modelVersion()'s output for the alias the gate moves: its version, or null when it was unset. */
function parseChampion(raw: Json | undefined, spec: ModelGateSpec): number | null {
  if (raw === null || raw === undefined) return null;
  const expected = `d.modelVersion({model: '${spec.model}', alias: '${spec.promote_to}'})'s output or null`;
  if (!isRecord(raw)) bad('champion', `expected ${expected}, got ${JSON.stringify(raw).slice(0, 80)}`);
  if (raw.model !== spec.model)
    bad('champion.model', `expected "${spec.model}" (the gate's model), got ${JSON.stringify(raw.model)}`);
  if (raw.alias !== spec.promote_to) {
    bad(
      'champion.alias',
      `expected "${spec.promote_to}" (the alias the gate moves), got ${JSON.stringify(raw.alias)}: the pin must be the alias the promotion compares and swaps`,
    );
  }
  if (typeof raw.version !== 'number' || !Number.isInteger(raw.version) || raw.version < 1)
    bad('champion.version', `expected a version number >= 1, got ${JSON.stringify(raw.version)}`);
  return raw.version;
}

const EXPECTED_REF =
  'expected a {"$model_version": {model, version}} or {"$artifact": {sha256, uri, name, type, size}} ref';

function parseCandidate(raw: Json | undefined): GateCandidate {
  if (!isRecord(raw))
    bad('candidate', `${EXPECTED_REF}, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)?.slice(0, 80)}`);
  const mv = raw.$model_version;
  if (isRecord(mv)) {
    if (typeof mv.model !== 'string') bad('candidate.$model_version.model', 'expected the model name');
    if (typeof mv.version !== 'number' || !Number.isInteger(mv.version) || mv.version < 1)
      bad('candidate.$model_version.version', 'expected a version number >= 1');
    if (mv.sha256 !== undefined && typeof mv.sha256 !== 'string')
      bad('candidate.$model_version.sha256', 'expected 64 hex characters');
    return {
      version: {
        model: mv.model,
        version: mv.version,
        ...(typeof mv.sha256 === 'string' ? { sha256: mv.sha256 } : {}),
      },
    };
  }
  const a = raw.$artifact;
  if (isRecord(a)) {
    // The fields the lineage record keeps; `path` is where a step saw the file.
    const artifact = {
      sha256: a.sha256,
      uri: a.uri,
      name: a.name,
      type: a.type,
      size: a.size,
      ...(a.format === undefined ? {} : { format: a.format }),
      ...(a.metadata === undefined ? {} : { metadata: a.metadata }),
    } as unknown as ArtifactInput;
    return { artifact };
  }
  const keys = Object.keys(raw);
  return bad(
    'candidate',
    `${EXPECTED_REF}, got an object with keys ${keys.join(', ') || '(none)'}` +
      (keys.length > 0 ? ` (pick the ref with .get('${keys[0]}') on the task's output)` : ''),
  );
}

function describeCandidate(c: GateCandidate): string {
  return 'version' in c
    ? `${c.version.model}@${c.version.version}`
    : `artifact "${c.artifact.name}" ${String(c.artifact.sha256).slice(0, 12)}`;
}

/** A recorded artifact as the `{"$artifact": {...}}` ref a task passes on. */
export function artifactRef(a: ArtifactRow): ModelGateResult['artifact'] {
  return { $artifact: { sha256: a.sha256, uri: a.uri, name: a.name, type: a.type, format: a.format, size: a.size } };
}

/** The gate's XCom: the decision, the versions involved, each failure, and the one-line reason. */
export function gateResult(spec: ModelGateSpec, r: ModelGateRecord): ModelGateResult {
  const name = `${spec.model}@${r.candidate.version}`;
  const alias = spec.promote_to;
  let reason: string;
  switch (r.outcome) {
    case 'promoted':
      reason =
        `${name} promoted to ${alias}` +
        (r.baselineVersion === null ? ' (the first one: thresholds alone)' : ` (was version ${r.baselineVersion})`);
      break;
    case 'unchanged':
      reason = `${name} is already ${alias}`;
      break;
    case 'lost':
      reason = `${name} passed but lost the race for ${alias}: it is at version ${r.champion ?? 'none'} now, not ${r.baselineVersion ?? 'unset'} as compared`;
      break;
    case 'rejected':
      reason =
        `${name} not promoted to ${alias}` +
        (r.champion === null ? '' : ` (stays at version ${r.champion})`) +
        (spec.otherwise_alias === null ? '' : `; it is ${spec.otherwise_alias} now`) +
        `: ${r.result.failures.map((f) => f.message).join(' ')}`;
      break;
  }
  return {
    outcome: r.outcome,
    decision: r.decision,
    model: spec.model,
    version: r.candidate.version,
    alias,
    champion: r.champion,
    baseline_version: r.baselineVersion,
    baseline_metrics_from: r.baselineMetricsFrom,
    evaluation_id: r.evaluation?.id ?? null,
    failures: r.result.failures.map((f) => ({ ...f })),
    reason,
    model_version: {
      $model_version: {
        model: spec.model,
        version: r.candidate.version,
        sha256: r.candidate.sha256,
        uri: r.candidate.uri,
      },
    },
    artifact: artifactRef(r.artifact),
  };
}
