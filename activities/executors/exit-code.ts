/**
 * The one mapping from a finished program's exit code to the task's outcome, shared by the process,
 * Docker and Kubernetes executors: 0 succeeds, SKIP_EXIT_CODE (99) skips, FAIL_EXIT_CODE (98)
 * fails without retries, any other code fails with retries. Like Airflow's `skip_on_exit_code`.
 * The wording stays each executor's, since it names what ran (a process, a container, a Job).
 */
import { FAIL_EXIT_CODE, SKIP_EXIT_CODE, TaskExecutionError, type ExecutionFailureKind } from './types.js';

/** How a non-zero exit code ends a try. */
export type ExitFailureKind = Extract<ExecutionFailureKind, 'skip' | 'fail' | 'exit'>;

export function exitFailureKind(exitCode: number): ExitFailureKind {
  if (exitCode === SKIP_EXIT_CODE) return 'skip';
  if (exitCode === FAIL_EXIT_CODE) return 'fail';
  return 'exit';
}

/**
 * The error a try ends with for this exit code, or null for 0 (success). `describe` words the
 * message for the kind; `lastLines` are the output lines kept for the record.
 */
export function exitCodeFailure(
  exitCode: number,
  lastLines: string[],
  describe: (kind: ExitFailureKind) => string,
): TaskExecutionError | null {
  if (exitCode === 0) return null;
  const kind = exitFailureKind(exitCode);
  return new TaskExecutionError(describe(kind), kind, exitCode, lastLines);
}
