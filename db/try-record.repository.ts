import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, ExecutionState, ModelReproducibility, ModelVersionRow } from './database.js';
import {
  recordExecution,
  type ExecutionKey,
  type LineageArtifactInput,
  type MetricInput,
  type ParamValue,
  type RecordedExecution,
} from './lineage.repository.js';
import { registerModelVersion } from './model-registry.repository.js';
import { toJsonb } from './json.js';
import { inTransaction } from './transaction.js';

/**
 * What one task try leaves in the ML record, written in one transaction: its execution row (code
 * version, params), metrics, input and output lineage events, and, when it succeeded, a new model
 * version for each output that asked to be registered, with its reproducibility. Idempotent per try:
 * a runTask attempt repeated after a worker crash records the same rows and reuses the versions.
 */

export interface OutputToRegister {
  /** Index into `outputs`. */
  readonly output: number;
  readonly model: string;
  readonly signature?: unknown;
  /** The step's own claim about reproducibility, and its reason when it is false. */
  readonly reproducible?: boolean | null;
  readonly reason?: string | null;
}

export interface TryRecordInput {
  readonly key: ExecutionKey;
  readonly state: ExecutionState;
  readonly dagVersionId: number | null;
  readonly codeVersion: string | null;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly params: { readonly [name: string]: ParamValue };
  readonly metrics: readonly MetricInput[];
  readonly inputs: readonly LineageArtifactInput[];
  readonly outputs: readonly LineageArtifactInput[];
  readonly register: readonly OutputToRegister[];
}

export interface RegisteredOutput {
  readonly output: number;
  readonly version: ModelVersionRow;
  readonly model: string;
  /** False when an earlier attempt of this try had already registered it. */
  readonly created: boolean;
}

export interface TryRecord {
  readonly execution: RecordedExecution;
  readonly registered: RegisteredOutput[];
}

/** The fingerprint of what produced a model: its input artifacts' bytes and the try's params. */
export function productionFingerprint(
  inputSha256s: readonly string[],
  params: { readonly [name: string]: ParamValue },
): string {
  const sorted = Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify({ inputs: [...new Set(inputSha256s)].sort(), params: sorted });
  return createHash('sha256').update(text).digest('hex');
}

/** A metric set for a model version: each metric's value at its highest step (the last logged wins). */
export function finalMetricValues(metrics: readonly MetricInput[]): Record<string, number> {
  const best = new Map<string, { step: number; value: number }>();
  for (const m of metrics) {
    const step = m.step ?? 0;
    const seen = best.get(m.name);
    if (seen === undefined || step >= seen.step) best.set(m.name, { step, value: m.value });
  }
  return Object.fromEntries([...best].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.value]));
}

export async function recordTry(db: Kysely<Database>, input: TryRecordInput): Promise<TryRecord> {
  return inTransaction(db, async (trx) => {
    const execution = await recordExecution(trx, {
      key: input.key,
      state: input.state,
      dag_version_id: input.dagVersionId,
      code_version: input.codeVersion,
      params: input.params,
      started_at: input.startedAt,
      ended_at: input.endedAt,
      inputs: input.inputs,
      outputs: input.outputs,
      // None logged: nothing to replace (a repeated attempt logs the same), and one statement less per try.
      ...(input.metrics.length === 0 ? {} : { metrics: input.metrics }),
    });
    const registered: RegisteredOutput[] = [];
    if (input.state !== 'success') return { execution, registered };
    const fingerprint = productionFingerprint(
      execution.inputs.map((a) => a.sha256),
      input.params,
    );
    const trainingData = [...new Set(execution.inputs.filter((a) => a.type === 'dataset').map((a) => a.id))];
    for (const r of input.register) {
      const artifact = execution.outputs[r.output];
      if (artifact === undefined)
        throw new Error(`recordTry: register names output ${r.output}, which was not recorded`);
      const existing = await trx
        .selectFrom('model_version as v')
        .innerJoin('registered_model as m', 'm.id', 'v.model_id')
        .selectAll('v')
        .where('m.name', '=', r.model)
        .where('v.source_execution_id', '=', execution.execution.id)
        .where('v.artifact_id', '=', artifact.id)
        .executeTakeFirst();
      if (existing !== undefined) {
        registered.push({ output: r.output, version: existing, model: r.model, created: false });
        continue;
      }
      const version = await registerModelVersion(trx, {
        model: r.model,
        artifactId: artifact.id,
        format: artifact.format,
        ...(r.signature === undefined ? {} : { signature: r.signature as never }),
        metrics: finalMetricValues(input.metrics),
        source: input.key,
        trainingDataArtifactIds: trainingData,
        createdBy: `${input.key.dag_id}/${input.key.run_id}/${input.key.task_id}#${input.key.try_number}`,
      });
      const previous = await trx
        .selectFrom('model_version')
        .select(['version', 'sha256'])
        .where('model_id', '=', version.model_id)
        .where('version', '<', version.version)
        .where(sql<string>`reproducibility->>'fingerprint'`, '=', fingerprint)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const same = previous === undefined ? null : previous.sha256 === version.sha256;
      const reproducibility: ModelReproducibility = {
        fingerprint,
        previous_version: previous?.version ?? null,
        same_as_previous: same,
        reproducible: r.reproducible ?? null,
        reason:
          same === false
            ? (r.reason ??
              `the bytes differ from version ${previous!.version}, which was produced from the same input artifacts and params (sha256 ${previous!.sha256.slice(0, 12)}… vs ${version.sha256.slice(0, 12)}…)`)
            : r.reproducible === false
              ? (r.reason ?? 'the step reported reproducible: false without a reason')
              : null,
      };
      const row = await trx
        .updateTable('model_version')
        .set({ reproducibility: toJsonb(reproducibility, 'reproducibility') })
        .where('id', '=', version.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      registered.push({ output: r.output, version: row, model: r.model, created: true });
    }
    return { execution, registered };
  });
}
