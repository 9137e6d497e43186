/**
 * The Jinja context of a try, with Airflow's names, built from plain facts about the run. Pure:
 * Variables and Connections come in as ready-made accessors (see render.ts).
 *
 * ds, ds_nodash, ts, ts_nodash and ts_nodash_with_tz exist only when the run has a logical date
 * (Airflow 3); the other names always exist, dates being null when the run has none.
 */
import type { AssetEventInfo } from '../../spec/asset.js';
import type { Json } from '../../spec/dag-spec.js';
import {
  TemplateDateTime,
  dsAdd,
  dsFormat,
  formatDs,
  formatDsNodash,
  formatTs,
  formatTsNodash,
  formatTsNodashWithTz,
} from './dates.js';

export interface TemplateFacts {
  dagId: string;
  runId: string;
  runType: string;
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
  /** Airflow 3's run_after (null: unknown; the logical date stands in). */
  runAfter?: string | null;
  conf: Record<string, Json>;
  /** The effective params (DAG < task < conf). */
  params: Record<string, Json>;
  taskId: string;
  tryNumber: number;
  mapIndex: number;
  /** An asset-triggered run's events by asset uri; absent or {} for other runs. */
  triggeringAssetEvents?: Record<string, AssetEventInfo[]>;
}

/** `var` and `conn` of the context; render.ts makes them (they load lazily). */
export interface SecretAccessors {
  var: { value: object; json: object };
  conn: object;
}

export const MACROS = { ds_add: dsAdd, ds_format: dsFormat } as const;

function dateOrNull(iso: string | null): TemplateDateTime | null {
  return iso === null ? null : new TemplateDateTime(new Date(iso));
}

export function buildTemplateContext(f: TemplateFacts, secrets: SecretAccessors): Record<string, unknown> {
  const logicalDate = dateOrNull(f.logicalDate);
  const dataIntervalStart = dateOrNull(f.dataIntervalStart);
  const dataIntervalEnd = dateOrNull(f.dataIntervalEnd);
  const runAfter = dateOrNull(f.runAfter ?? f.logicalDate);
  const ti = { dag_id: f.dagId, task_id: f.taskId, run_id: f.runId, try_number: f.tryNumber, map_index: f.mapIndex };
  const context: Record<string, unknown> = {
    dag: { dag_id: f.dagId },
    task: { task_id: f.taskId, dag_id: f.dagId },
    ti,
    task_instance: ti,
    run_id: f.runId,
    dag_run: {
      dag_id: f.dagId,
      run_id: f.runId,
      run_type: f.runType,
      conf: f.conf,
      logical_date: logicalDate,
      data_interval_start: dataIntervalStart,
      data_interval_end: dataIntervalEnd,
      run_after: runAfter,
    },
    logical_date: logicalDate,
    data_interval_start: dataIntervalStart,
    data_interval_end: dataIntervalEnd,
    run_after: runAfter,
    params: f.params,
    conf: f.conf,
    var: secrets.var,
    conn: secrets.conn,
    macros: MACROS,
    // Airflow's name; uri → events, oldest first ({} when the run was not started by assets).
    triggering_asset_events: f.triggeringAssetEvents ?? {},
    // Airflow 3 falls back to the run id when there is no logical date.
    task_instance_key_str: `${f.dagId}__${f.taskId}__${logicalDate ? formatDsNodash(logicalDate.date) : f.runId}`,
  };
  if (logicalDate) {
    Object.assign(context, {
      ds: formatDs(logicalDate.date),
      ds_nodash: formatDsNodash(logicalDate.date),
      ts: formatTs(logicalDate.date),
      ts_nodash: formatTsNodash(logicalDate.date),
      ts_nodash_with_tz: formatTsNodashWithTz(logicalDate.date),
    });
  }
  return context;
}
