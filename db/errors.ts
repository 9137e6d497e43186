/** Typed errors of the record layer; messages name the record and what was expected. */

export class DagRunExistsError extends Error {
  override readonly name = 'DagRunExistsError';
  constructor(
    readonly dagId: string,
    readonly runId: string,
  ) {
    super(`dag_run already exists: dag_id "${dagId}", run_id "${runId}" (run_id must be unique per DAG)`);
  }
}

/** A continuous DAG's next run may not be recorded now (its one slot is taken, or it is paused or gone). */
export class ContinuousSlotTakenError extends Error {
  override readonly name = 'ContinuousSlotTakenError';
  constructor(
    readonly dagId: string,
    readonly reason: string,
  ) {
    super(`no next run recorded for continuous DAG "${dagId}": ${reason}`);
  }
}

export class DagRunNotFoundError extends Error {
  override readonly name = 'DagRunNotFoundError';
  constructor(
    readonly dagId: string,
    readonly runId: string,
  ) {
    super(`dag_run not found: dag_id "${dagId}", run_id "${runId}"`);
  }
}

export class DagNotFoundError extends Error {
  override readonly name = 'DagNotFoundError';
  constructor(
    readonly dagId: string,
    hint = '',
  ) {
    super(`dag not found: dag_id "${dagId}"${hint === '' ? '' : ` (${hint})`}`);
  }
}

/** A value that cannot be stored in a jsonb column (undefined, a bigint, a cycle, ...). */
export class InvalidJsonValueError extends Error {
  override readonly name = 'InvalidJsonValueError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} must be a JSON-serializable value: ${reason}`);
  }
}

export const MIGRATION_DIRECTIONS = ['up', 'down'] as const;
export type MigrationDirection = (typeof MIGRATION_DIRECTIONS)[number];

/** A migration run failed; `migrationName` is the migration that failed, when one did. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly direction: MigrationDirection,
    readonly migrationName: string | undefined,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      migrationName === undefined
        ? `migrating ${direction} failed before any migration ran: ${reason}`
        : `migration "${migrationName}" failed (${direction}): ${reason}`,
      { cause },
    );
  }
}
