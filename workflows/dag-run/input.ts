/**
 * A try's request to the runTask activity: the task's input with `{$xcom: ...}` references
 * replaced by values (inline) or by references the activity resolves from Postgres.
 */
import { instanceTemplate, pluckPath } from '../../engine/mapping.js';
import type { Json } from '../../spec/dag-spec.js';
import type { RunTaskRequest } from '../types.js';
import type { RunState } from './state.js';

/** The request for one try of a task (mapIndex -1) or of one mapped instance. */
export function taskRequest(
  run: RunState,
  index: number,
  mapIndex: number,
  tryNumber: number,
  maxTries: number,
): RunTaskRequest {
  const { input, dag } = run;
  const task = run.graph.tasks[index]!;
  const template =
    mapIndex >= 0 ? instanceTemplate(task.mapped!, mapIndex, run.mapLengths.get(index)!, task.input) : task.input;
  return {
    dagId: run.dagId,
    runId: run.runId,
    runType: input.runType,
    dagVersionId: input.dagVersionId,
    specHash: input.specHash,
    task,
    mapIndex,
    tryNumber,
    maxTries,
    input: template === null ? null : resolveInput(run, template),
    logicalDate: input.logicalDate,
    dataIntervalStart: input.dataIntervalStart,
    dataIntervalEnd: input.dataIntervalEnd,
    ...(input.runAfter ? { runAfter: input.runAfter } : {}),
    conf: input.conf,
    params: run.params(),
    xcomInlineLimitBytes: input.options.xcomInlineLimitBytes,
    ...(task.map_sources && dag.max_map_length !== undefined ? { maxMapLength: dag.max_map_length } : {}),
  };
}

function resolveInput(run: RunState, template: Json): Json {
  if (template === null || typeof template !== 'object') return template;
  if (Array.isArray(template)) return template.map((t) => resolveInput(run, t));
  const { dagId, runId, graph } = run;
  const ref = (template as { $xcom?: { task_id: string; key: string; path: string[]; map_index?: number } }).$xcom;
  if (ref && Object.keys(template).length === 1) {
    if (ref.map_index !== undefined) {
      // The same instance of an upstream task in this task's mapped group: read from Postgres.
      return {
        $xcom_ref: {
          dag_id: dagId,
          run_id: runId,
          task_id: ref.task_id,
          map_index: ref.map_index,
          key: ref.key,
          path: ref.path,
        },
      };
    }
    const index = graph.indexOf.get(ref.task_id)!;
    if (graph.tasks[index]!.mapped) {
      // A mapped task's output is the list of its instances' values (map_index order), read by the activity.
      return {
        $xcom_ref: {
          dag_id: dagId,
          run_id: runId,
          task_id: ref.task_id,
          map_index: -1,
          key: ref.key,
          path: ref.path,
          collect: true,
        },
      };
    }
    const entry = run.xcoms.get(index);
    if (entry === undefined) return null; // upstream skipped or pushed nothing: Airflow's None
    if ('inline' in entry) return pluckPath(entry.inline, ref.path) ?? null;
    return {
      $xcom_ref: { dag_id: dagId, run_id: runId, task_id: ref.task_id, map_index: -1, key: ref.key, path: ref.path },
    };
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(template)) out[k] = resolveInput(run, v);
  return out;
}
