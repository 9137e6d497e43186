/**
 * Task options that look beyond the task's own run: `dependsOnPast`, `waitForDownstream` and
 * `maxActiveTisPerDag` (Airflow's depends_on_past, wait_for_downstream, max_active_tis_per_dag).
 * The runTask activity enforces them (activities/admission/). The spec carries a field only when
 * it is set, so DAGs that do not use them keep their spec hash.
 */
import type { TaskSpec } from '../spec/dag-spec.js';

export interface CrossRunOptions {
  dependsOnPast?: boolean;
  waitForDownstream?: boolean;
  maxActiveTisPerDag?: number | null;
}

type CrossRunFields = Pick<TaskSpec, 'depends_on_past' | 'wait_for_downstream' | 'max_active_tis_per_dag'>;

export function compileCrossRunOptions(
  o: CrossRunOptions,
  f: (message: string, field: string) => never,
): CrossRunFields {
  const out: CrossRunFields = {};
  for (const field of ['dependsOnPast', 'waitForDownstream'] as const) {
    if (o[field] !== undefined && typeof o[field] !== 'boolean')
      f(`expected true or false, got ${JSON.stringify(o[field])}`, field);
  }
  // Airflow: wait_for_downstream implies depends_on_past.
  if (o.dependsOnPast || o.waitForDownstream) out.depends_on_past = true;
  if (o.waitForDownstream) out.wait_for_downstream = true;
  if (o.maxActiveTisPerDag != null) {
    if (!Number.isInteger(o.maxActiveTisPerDag) || o.maxActiveTisPerDag < 1) {
      f(`expected a positive integer, got ${String(o.maxActiveTisPerDag)}`, 'maxActiveTisPerDag');
    }
    out.max_active_tis_per_dag = o.maxActiveTisPerDag;
  }
  return out;
}
