/**
 * Authoring options: camelCase in TypeScript, mapped to Airflow's snake_case names by the compiler.
 */
import type { Duration } from './duration.js';
import type { Json } from './spec.js';
import type { TriggerRule } from './trigger-rule.js';

export interface AssetLike {
  uri: string;
  name?: string;
}

/** Options every task accepts; also what `defaultArgs` may set. */
export interface TaskDefaults {
  /** @default 'updraft' */
  owner: string;
  /** Number of retries after the first try. @default 0 */
  retries: number;
  /** Wait before a retry. @default '5 minutes' (Airflow's 300 s) */
  retryDelay: Duration;
  /** Airflow's exponential backoff with deterministic jitter. @default false */
  retryExponentialBackoff: boolean;
  /** Cap on the backoff. @default none (Airflow's global cap of 24 h applies) */
  maxRetryDelay: Duration | null;
  /** Per-try limit; the try is killed and counts as failed. @default none */
  executionTimeout: Duration | null;
  /** @default 'all_success' */
  triggerRule: TriggerRule | 'dummy' | 'none_failed_or_skipped';
  /** Task queue the task runs on (Airflow's queue); null is the default queue. */
  queue: string | null;
  /** @default 'default_pool' */
  pool: string;
  /** @default 1 */
  poolSlots: number;
  /** @default 1 */
  priorityWeight: number;
  /** @default 'downstream' */
  weightRule: 'downstream' | 'upstream' | 'absolute';
}

export interface TaskOptions extends Partial<TaskDefaults> {
  /** ASCII letters, digits, '-', '.', '_' (Airflow's rule). */
  taskId: string;
  /** Assets this task updates on success. */
  outlets?: AssetLike[];
  docMd?: string;
}

export interface ProcessTaskOptions extends TaskOptions {
  /** Program and arguments; argv[0] is looked up on PATH. No shell is involved unless `shell: true`. */
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run argv[0] as a /bin/sh script. Only for trusted, literal scripts. @default false */
  shell?: boolean;
}

export interface DagOptions {
  dagId: string;
  description?: string;
  /** Cron expression or preset ('@daily'); null (the default) means manual runs only. */
  schedule?: string | null;
  startDate?: string | Date;
  endDate?: string | Date;
  /** @default false (Airflow 3's default) */
  catchup?: boolean;
  /** @default 16 */
  maxActiveRuns?: number;
  /** @default 16 */
  maxActiveTasks?: number;
  dagrunTimeout?: Duration;
  tags?: string[];
  params?: Record<string, Json>;
  defaultArgs?: Partial<TaskDefaults>;
  docMd?: string;
}
