/**
 * What the runTask activity calls before handing a try to its executor: the task's effective
 * params (DAG < task < conf, Airflow's precedence) and its templated fields rendered with the
 * Airflow context, reading Variables and Connections from Postgres.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { Json } from '../../spec/dag-spec.js';
import type { RunTaskRequest } from '../../workflows/types.js';
import type { ExecutionRequest } from '../executors/types.js';
import { SecretCipher } from '../../secrets/encryption.js';
import type { SecretMasker } from '../../secrets/masker.js';
import { getConnection, getVariable } from '../../secrets/store.js';
import { renderTaskFields, type SecretLookup } from './render.js';

/** Variables and Connections from the database, decrypted with UPDRAFT_FERNET_KEY when needed. */
export function databaseSecretLookup(db: Kysely<Database>): SecretLookup {
  let cipher: SecretCipher | null | undefined;
  // Read the key only when an encrypted value is met, so a bad key fails only tries that need it.
  const opts = {
    get cipher() {
      return (cipher ??= SecretCipher.fromEnv());
    },
  };
  return {
    variable: async (key) => (await getVariable(db, key, opts))?.val,
    connection: (connId) => getConnection(db, connId, opts),
  };
}

/** ctx.params and `params` in templates: the workflow's DAG params + conf, then task params, then conf again. */
export function effectiveParams(req: Pick<RunTaskRequest, 'params' | 'conf' | 'task'>): Record<string, Json> {
  return { ...req.params, ...(req.task.params ?? {}), ...req.conf };
}

export async function prepareTry(
  db: Kysely<Database>,
  req: RunTaskRequest,
  request: ExecutionRequest,
  masker: SecretMasker,
  lookup: SecretLookup = databaseSecretLookup(db),
): Promise<ExecutionRequest> {
  const params = effectiveParams(req);
  const rendered = await renderTaskFields(
    { spec: request.spec, input: request.input },
    {
      dagId: req.dagId,
      runId: req.runId,
      runType: req.runType,
      logicalDate: req.logicalDate,
      dataIntervalStart: req.dataIntervalStart,
      dataIntervalEnd: req.dataIntervalEnd,
      runAfter: req.runAfter ?? null,
      conf: req.conf,
      params,
      taskId: req.task.task_id,
      tryNumber: req.tryNumber,
      mapIndex: req.mapIndex,
      triggeringAssetEvents: request.run?.triggeringAssetEvents ?? {},
    },
    lookup,
    masker,
  );
  return {
    ...request,
    spec: rendered.spec,
    input: rendered.input,
    ...(request.run ? { run: { ...request.run, params } } : {}),
  };
}
