/**
 * The executor of registry lookups (kind 'model_version'; sdk/model-version.ts): no user code. It
 * resolves `models:/<model>@<alias>` once, when the try runs, and returns the version with an
 * ArtifactRef of its file (a step given it materializes the file, and lineage records the read as
 * that step's input), or null while the alias is unset or the model is not registered yet.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { InvalidRecordFieldError } from '../db/ml-errors.js';
import { lookupAlias } from '../db/model-registry.repository.js';
import type { ResolvedModelVersion } from '../sdk/model-version.js';
import type { Json } from '../spec/dag-spec.js';
import { artifactRef } from './model-gate.js';
import {
  TaskExecutionError,
  specPartOf,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
} from './executors/types.js';

export interface ModelVersionDeps {
  db: Kysely<Database>;
}

export function createModelVersionExecutor(deps: ModelVersionDeps): Executor {
  return { name: 'model_version', execute: (req) => resolve(deps, req) };
}

async function resolve(deps: ModelVersionDeps, req: ExecutionRequest): Promise<ExecutionResult> {
  const spec = specPartOf(req, 'model_version', 'model version');
  const log = (line: string): void => req.log.write('system', line);
  let found;
  try {
    found = await lookupAlias(deps.db, spec.model, spec.alias);
  } catch (err) {
    // A bad name cannot get better on a retry (the compiler checks them; a hand-written spec may not).
    if (err instanceof InvalidRecordFieldError) throw new TaskExecutionError(`model version: ${err.message}`, 'fail');
    throw err;
  }
  const uri = `models:/${spec.model}@${spec.alias}`;
  if (found === undefined) {
    log(`${uri} is not set (no version behind it yet, or the model is not registered): returning null`);
    return { returnValue: null, exitCode: null };
  }
  const { version: v, artifact } = found;
  const result: ResolvedModelVersion = {
    model: spec.model,
    version: v.version,
    alias: spec.alias,
    sha256: v.sha256,
    format: v.format,
    metrics: v.metrics,
    artifact: artifactRef(artifact),
  };
  log(`${uri} is version ${v.version} (sha256 ${v.sha256}, artifact "${artifact.name}" at ${artifact.uri})`);
  return { returnValue: result as unknown as Json, exitCode: null };
}
