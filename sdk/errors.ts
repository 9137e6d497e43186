/**
 * Errors of the authoring SDK and the compiler. Messages name the DAG, the task and the field,
 * Temporal-style, so the user can go straight to the line that is wrong.
 */
export class DagDefinitionError extends Error {
  override readonly name = 'DagDefinitionError';
  constructor(
    message: string,
    readonly dagId?: string,
    readonly taskId?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Thrown by task code to end the task as `skipped` (Airflow's AirflowSkipException). */
export class SkipTask extends Error {
  override readonly name = 'SkipTask';
}

/** Thrown by task code to fail the task with no retries (Airflow's AirflowFailException). */
export class FailTask extends Error {
  override readonly name = 'FailTask';
}
