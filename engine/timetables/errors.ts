/**
 * Errors of the timetable engine. `field` names the DAG option that holds the bad value
 * (`schedule`, `timezone`, `startDate`, ...), so the compiler can report it as
 * `DAG "etl": schedule: ...`.
 */
export class TimetableError extends Error {
  override readonly name: string = 'TimetableError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** A cron expression the engine (like croniter, Airflow's cron library) does not accept. */
export class CronSyntaxError extends TimetableError {
  override readonly name = 'CronSyntaxError';
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message, 'schedule');
  }
}

/** A valid cron expression with no fire time within 50 years of the start (croniter's CroniterBadDateError). */
export class CronNoMatchError extends TimetableError {
  override readonly name = 'CronNoMatchError';
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message, 'schedule');
  }
}

/** Airflow 3's backfill checks (InvalidBackfillDateRange, InvalidBackfillDate, DagNonPeriodicScheduleException, ...). */
export class BackfillRangeError extends TimetableError {
  override readonly name = 'BackfillRangeError';
}
