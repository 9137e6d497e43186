/** A TaskSpec with the compiler's defaults, for executor tests that build specs by hand. */
import type { TaskSpec } from '../../spec/dag-spec.js';

export function baseTaskSpec(overrides: Partial<TaskSpec> & Pick<TaskSpec, 'task_id' | 'kind' | 'operator'>): TaskSpec {
  return {
    upstream: [],
    downstream: [],
    trigger_rule: 'all_success',
    retries: 0,
    retry_delay: 300,
    retry_exponential_backoff: false,
    max_retry_delay: null,
    execution_timeout: null,
    queue: null,
    pool: 'default_pool',
    pool_slots: 1,
    priority_weight: 1,
    weight_rule: 'downstream',
    owner: 'airflow',
    outlets: [],
    doc_md: null,
    input: null,
    resources: { cpu: null, memory: null, gpu: 0, gpu_type: null },
    ...overrides,
  };
}
