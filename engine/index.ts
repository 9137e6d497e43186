/**
 * Pure Airflow semantics for the DAG-run workflow. Everything here is sandbox-safe: no `node:*`,
 * no Buffer, no crypto module, no clock.
 */
export { SemanticsInputError } from './errors.js';
export { sha1Bytes, sha1Hex, utf8Encode } from './sha1.js';
export { MAX_RETRY_DELAY_SECONDS, formatLogicalDateForHash, retryDelaySeconds } from './retry-delay.js';
export type { RetryDelayInput } from './retry-delay.js';
export { evaluateTriggerRule, normalizeTriggerRule } from './trigger-rules.js';
export type { TriggerDecision, TriggerRuleOptions, UpstreamCounts } from './trigger-rules.js';
export { computeDagRunState, dagRunStateLeaves, findDeadlock } from './dag-run-state.js';
export type { DagRunStateResult, DagRunStateShape, DagRunStateTask, Deadlock, DeadlockTask } from './dag-run-state.js';
