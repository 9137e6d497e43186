/**
 * Loading a run into the workflow: the spec in chunks (it can exceed Temporal's 2 MB payload limit
 * as one blob), and the state a run carries on from — continue-as-new's, or, for a run an operator
 * action re-opened, its record in Postgres.
 */
import { patched } from '@temporalio/workflow';
import type { DagSpec, TaskSpec } from '../../spec/dag-spec.js';
import type { CarriedRun, DagRunInput } from '../types.js';
import { bookkeepingActivities, local } from './activities.js';

export async function loadRun(input: DagRunInput): Promise<{ dag: DagSpec; carried: CarriedRun | undefined }> {
  const { dagId, runId, options } = input;
  const first = await local.loadRun({
    dagId,
    runId,
    dagVersionId: input.dagVersionId,
    specHash: input.specHash,
    offset: 0,
    limit: options.specChunkSize,
    initialize: input.carried === undefined && input.reopen === undefined,
  });
  const tasks: TaskSpec[] = [...first.tasks];
  // Later chunks are regular activities: local-activity results all travel in one workflow-task
  // completion, and 20 chunks of a 10,000-task spec exceed the server's 4 MB gRPC message limit.
  const chunkLoader =
    tasks.length < first.total && patched('spec-chunks-as-activities')
      ? bookkeepingActivities(options.taskQueue)
      : local;
  while (tasks.length < first.total) {
    const chunk = await chunkLoader.loadRun({
      dagId,
      runId,
      dagVersionId: input.dagVersionId,
      specHash: input.specHash,
      offset: tasks.length,
      limit: options.specChunkSize,
      initialize: false,
    });
    tasks.push(...chunk.tasks);
  }
  const dag: DagSpec = { ...first.dag, tasks };
  const carried =
    input.carried ??
    (input.reopen
      ? await local.reopenRun({
          dagId,
          runId,
          dagVersionId: input.dagVersionId,
          specHash: input.specHash,
          dagrunTimeoutSeconds: dag.dagrun_timeout ?? null,
        })
      : undefined);
  return { dag, carried };
}
