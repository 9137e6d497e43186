/**
 * From what a try consumed and produced to the ML record (db/try-record.repository.ts) and back
 * into its XCom: registered model outputs carry their version, and the `{"$model_version": ...}`
 * refs are pushed under the XCom key `model_version`.
 */
import type { Kysely } from 'kysely';
import type { Database, ExecutionState } from '../../db/database.js';
import type { LineageArtifactInput } from '../../db/lineage.repository.js';
import { recordTry, type OutputToRegister, type TryRecord } from '../../db/try-record.repository.js';
import type { Json } from '../../spec/dag-spec.js';
import { MODEL_VERSION_KEY, mapArtifactRefs, type FoundRef, type ParamValue } from './protocol.js';
import type { StepOutputs, StoredOutput } from './step-io.js';

/** The artifacts a try consumed: every ArtifactRef in its resolved input, once per (sha256, name, type). */
export function consumedArtifacts(refs: readonly FoundRef[]): LineageArtifactInput[] {
  const seen = new Map<string, LineageArtifactInput>();
  for (const { where, body } of refs) {
    const k = `${body.sha256}\u0000${body.name}\u0000${body.type}`;
    if (seen.has(k)) continue;
    seen.set(k, {
      sha256: body.sha256,
      uri: body.uri,
      name: body.name,
      type: body.type,
      format: body.format ?? null,
      size: body.size,
      path: where,
    });
  }
  return [...seen.values()];
}

function outputArtifact(o: StoredOutput): LineageArtifactInput {
  return {
    sha256: o.sha256,
    uri: o.uri,
    name: o.declared.name,
    type: o.declared.type,
    format: o.declared.format ?? null,
    size: o.size,
    ...(o.declared.metadata === undefined ? {} : { metadata: o.declared.metadata }),
    path: o.declared.path,
  };
}

/** The step's own word on reproducibility: its `reproducible` param (or the artifact's metadata) and reason. */
function reproducibilityClaim(
  o: StoredOutput,
  params: Record<string, ParamValue>,
): Pick<OutputToRegister, 'reproducible' | 'reason'> {
  const meta = o.declared.metadata ?? {};
  const flag =
    typeof meta['reproducible'] === 'boolean'
      ? meta['reproducible']
      : typeof params['reproducible'] === 'boolean'
        ? params['reproducible']
        : null;
  const reason =
    typeof meta['reproducible_reason'] === 'string'
      ? meta['reproducible_reason']
      : typeof params['reproducible_reason'] === 'string'
        ? params['reproducible_reason']
        : null;
  return { reproducible: flag, reason };
}

export interface RecordOutcomeInput {
  key: { dag_id: string; run_id: string; task_id: string; map_index: number; try_number: number };
  state: ExecutionState;
  dagVersionId: number | null;
  codeVersion: string | null;
  startedAt: Date;
  consumed: LineageArtifactInput[];
  outputs: StepOutputs | undefined;
}

export async function recordOutcome(db: Kysely<Database>, input: RecordOutcomeInput): Promise<TryRecord> {
  const outputs = input.outputs ?? { metrics: [], params: {}, artifacts: [] };
  const register: OutputToRegister[] = [];
  outputs.artifacts.forEach((o, i) => {
    if (o.declared.register === undefined) return;
    register.push({
      output: i,
      model: o.declared.register.model,
      ...(o.declared.register.signature === undefined ? {} : { signature: o.declared.register.signature }),
      ...reproducibilityClaim(o, outputs.params),
    });
  });
  return recordTry(db, {
    key: input.key,
    state: input.state,
    dagVersionId: input.dagVersionId,
    codeVersion: input.codeVersion,
    startedAt: input.startedAt,
    endedAt: new Date(),
    params: outputs.params,
    metrics: outputs.metrics,
    inputs: input.consumed,
    outputs: outputs.artifacts.map(outputArtifact),
    register,
  });
}

/** The return value with each registered output's ArtifactRef naming its model version. */
export function markRegistered(value: Json | undefined, outputs: StepOutputs, record: TryRecord): Json | undefined {
  if (record.registered.length === 0 || value === undefined) return value;
  const byOutput = new Map(
    record.registered.map((r) => [
      `${outputs.artifacts[r.output]!.sha256}\u0000${outputs.artifacts[r.output]!.declared.name}`,
      r,
    ]),
  );
  // Only the refs of this try's outputs are marked; a passed-through input ref is left alone.
  return mapArtifactRefs(
    value,
    (body) => {
      const r = byOutput.get(`${body.sha256}\u0000${body.name}`);
      return r === undefined ? body : { ...body, model_version: { model: r.model, version: r.version.version } };
    },
    'return',
  );
}

/** `{"$model_version": {model, version, sha256, uri}}` of one registered output, or a list when there are several. */
export function modelVersionXCom(record: TryRecord): Json | undefined {
  const refs = record.registered.map((r): Json => ({
    [MODEL_VERSION_KEY]: { model: r.model, version: r.version.version, sha256: r.version.sha256, uri: r.version.uri },
  }));
  if (refs.length === 0) return undefined;
  return refs.length === 1 ? refs[0] : refs;
}
