/**
 * Airflow's trigger rules, as Airflow spells them (airflow/task/trigger_rule.py).
 * A const object plus a derived union, the way Temporal's SDK models enums.
 */
export const TriggerRule = {
  ALL_SUCCESS: 'all_success',
  ALL_FAILED: 'all_failed',
  ALL_DONE: 'all_done',
  ALL_DONE_MIN_ONE_SUCCESS: 'all_done_min_one_success',
  ALL_DONE_SETUP_SUCCESS: 'all_done_setup_success',
  ONE_SUCCESS: 'one_success',
  ONE_FAILED: 'one_failed',
  ONE_DONE: 'one_done',
  NONE_FAILED: 'none_failed',
  NONE_FAILED_MIN_ONE_SUCCESS: 'none_failed_min_one_success',
  NONE_SKIPPED: 'none_skipped',
  ALL_SKIPPED: 'all_skipped',
  ALWAYS: 'always',
} as const;
export type TriggerRule = (typeof TriggerRule)[keyof typeof TriggerRule];

export const TRIGGER_RULES: readonly TriggerRule[] = Object.values(TriggerRule);

/** Airflow 2.x aliases, accepted on input and normalised to their 3.x names. */
export const TRIGGER_RULE_ALIASES: Readonly<Record<string, TriggerRule>> = {
  dummy: TriggerRule.ALWAYS,
  none_failed_or_skipped: TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
};

export function isTriggerRule(value: unknown): value is TriggerRule {
  return typeof value === 'string' && (TRIGGER_RULES as readonly string[]).includes(value);
}
