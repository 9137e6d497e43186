/**
 * Operator actions on a DAG run (CLI `tasks clear`, `tasks set-state`, `dags set-run-state`; later
 * the REST API). A run in flight gets a Temporal update that its workflow validates and applies. A
 * finished run is re-opened: a new execution under the same workflow id restores the run from
 * Postgres, applies the action and carries on; the earlier execution's history stays in Temporal.
 */
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDagVersion } from '../db/dag.repository.js';
import { getDagRun } from '../db/dag-run.repository.js';
import { listTaskInstances } from '../db/task-instance.repository.js';
import {
  carriedFromRecord,
  planAction,
  validateAction,
  OperatorActionError,
  type ActionResult,
} from '../engine/operator-actions.js';
import type { Json } from '../spec/dag-spec.js';
import type { DagRunType } from '../spec/states.js';
import type { dagRun } from '../workflows/dag-run/index.js';
import { operatorActionUpdate, RUN_FINISHING } from '../workflows/messages.js';
import { DAG_ID, DAG_RUN_ID, DAG_RUN_STATE, LOGICAL_DATE, RUN_TYPE } from '../workflows/search-attributes.js';
import { DAG_RUN_WORKFLOW, type DagRunInput, type RunOptions } from '../workflows/types.js';
import { runLinks } from './run-links.js';

export { OperatorActionError };

export interface OperatorActionRequest {
  dagId: string;
  runId: string;
  /** Checked here (validateAction) before anything is sent. */
  action: unknown;
  /** Used when the run is re-opened (task queue, heartbeat timeout, ...). */
  runOptions: RunOptions;
  /** The workers' task-log folder, for the re-opened execution's memo and details. */
  logsFolder?: string | null;
}

export interface OperatorActionOutcome extends ActionResult {
  workflowId: string;
  /** The run had finished and was re-opened (a new execution under the same workflow id). */
  reopened: boolean;
}

/** How often a race with a finishing run is retried before giving up. */
const ATTEMPTS = 10;

export async function applyOperatorAction(
  db: Kysely<Database>,
  client: Client,
  req: OperatorActionRequest,
): Promise<OperatorActionOutcome> {
  const run = await getDagRun(db, req.dagId, req.runId);
  if (!run)
    throw new OperatorActionError(
      `DAG run "${req.runId}" of DAG "${req.dagId}" not found (see updraft dags list-runs ${req.dagId})`,
    );
  const version = run.dag_version_id === null ? undefined : await getDagVersion(db, run.dag_version_id);
  if (!version)
    throw new OperatorActionError(
      `DAG run "${req.runId}" refers to dag_version ${run.dag_version_id}, which is not in the database`,
    );
  const spec = version.spec;
  const action = validateAction(spec.tasks, req.action);
  const workflowId = run.workflow_id;
  const handle = client.workflow.getHandle<typeof dagRun>(workflowId);

  for (let attempt = 1; ; attempt++) {
    let open: boolean;
    try {
      open = (await handle.describe()).status.name === 'RUNNING';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      open = false;
    }
    if (open) {
      try {
        const result = await handle.executeUpdate(operatorActionUpdate, { args: [action] });
        return { ...result, workflowId, reopened: false };
      } catch (err) {
        const message = updateRefusal(err);
        if (message === null) throw err;
        if (!message.includes(RUN_FINISHING) || attempt >= ATTEMPTS) throw new OperatorActionError(message);
      }
    } else {
      // Closed: plan against the record (what the re-opened run will restore), re-open if it changes anything.
      const rows = await listTaskInstances(db, req.dagId, req.runId);
      const carried = carriedFromRecord(spec.tasks, rows);
      const plan = planAction(spec.tasks, (i) => carried[i]!.state, action);
      const runStateChanges = action.kind === 'set_run_state' && run.state !== action.state;
      if (action.dry_run === true || (plan.changes.length === 0 && !runStateChanges))
        return { ...plan, dry_run: action.dry_run === true, workflowId, reopened: false };
      const input: DagRunInput = {
        dagId: req.dagId,
        runId: req.runId,
        runType: run.run_type as DagRunType,
        dagVersionId: version.id,
        specHash: version.spec_hash,
        logicalDate: run.logical_date?.toISOString() ?? null,
        dataIntervalStart: run.data_interval_start?.toISOString() ?? null,
        dataIntervalEnd: run.data_interval_end?.toISOString() ?? null,
        conf: (run.conf ?? {}) as Record<string, Json>,
        options: req.runOptions,
        reopen: { action },
      };
      const links = runLinks(req.dagId, req.runId, req.logsFolder);
      try {
        await client.workflow.start<typeof dagRun>(DAG_RUN_WORKFLOW, {
          workflowId,
          taskQueue: req.runOptions.taskQueue,
          args: [input],
          // Only a closed execution may be followed; a concurrent re-open makes this fail, and the
          // action then goes to that execution as an update.
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          typedSearchAttributes: [
            { key: DAG_ID, value: req.dagId },
            { key: DAG_RUN_ID, value: req.runId },
            { key: RUN_TYPE, value: run.run_type },
            { key: DAG_RUN_STATE, value: 'running' },
            ...(run.logical_date ? [{ key: LOGICAL_DATE, value: run.logical_date }] : []),
          ],
          memo: {
            dag_version: version.version_number,
            spec_hash: version.spec_hash,
            conf: run.conf ?? {},
            reopened_by: action,
            ...links.memo,
          },
          staticSummary: `${req.dagId} · ${req.runId} (re-opened)`,
          staticDetails: `DAG **${req.dagId}** version ${version.version_number}, run \`${req.runId}\` re-opened by an operator action\n\n${links.details}`,
        });
        return { ...plan, dry_run: false, workflowId, reopened: true };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError) || attempt >= ATTEMPTS) throw err;
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * attempt)));
  }
}

/**
 * The workflow's reason for refusing an update (validator), or null when the error is not a
 * refusal. A workflow that closed between describe and update counts as "finishing".
 */
function updateRefusal(err: unknown): string | null {
  if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
  if (err instanceof WorkflowNotFoundError) return RUN_FINISHING;
  return null;
}
