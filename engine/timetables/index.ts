/**
 * Airflow's schedules, pure: cron (croniter semantics), time zones (Intl), the timetables and
 * their next_dagrun_info, backfill windows, next executions, run ids and asset conditions. No
 * clock, no I/O: callers pass `now`.
 */
export { BackfillRangeError, CronNoMatchError, CronSyntaxError, TimetableError } from './errors.js';
export { AIRFLOW_CRON_PRESETS, CronExpression, cron } from './cron.js';
export { fromWall, toWall, zone, zoneProblem } from './zone.js';
export type { Zone } from './zone.js';
export { formatTimedelta, timetableFromSpec } from './timetables.js';
export type { DagRunInfo, DataInterval, NextRunArgs, TimeRestriction, Timetable } from './timetables.js';
export { backfillRuns, nextExecutions, pythonIsoUtc, restrictionOf, runIdFor, scheduledRunsUntil } from './runs.js';
export type { BackfillArgs, NextExecutionsArgs, PlannedRun, ReprocessBehavior, RunIdType } from './runs.js';
export { SCHEDULE_PRESETS, cronTimetable, deltaTimetable, isDurationString } from './schedule.js';
export { assetUris, checkAssetCondition, evaluateAssetCondition, formatAssetCondition } from './assets.js';
