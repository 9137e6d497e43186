/**
 * What a run's workflow carries for an operator in the Temporal UI: where its task logs are and
 * the commands that show them and its task states (memo fields and static-details lines).
 */
import path from 'node:path';

export interface RunLinks {
  /** Memo fields (shown in the UI's Memo section, returned by describe()). */
  memo: { logs_folder?: string; logs_command: string; states_command: string };
  /** Markdown lines for the workflow's static details. */
  details: string;
}

/**
 * `logsFolder`: the worker's logs folder (UPDRAFT_LOGS_FOLDER), or null when unknown. The layout is
 * activities/task-log.ts taskLogPath's (run ids are validated to characters it keeps as they are).
 */
export function runLinks(dagId: string, runId: string, logsFolder: string | null | undefined): RunLinks {
  const folder = logsFolder ? path.join(logsFolder, `dag_id=${dagId}`, `run_id=${runId}`) : undefined;
  const logsCommand = `updraft tasks logs ${dagId} ${runId} <task_id>`;
  const statesCommand = `updraft tasks states-for-dag-run ${dagId} ${runId}`;
  const lines = [
    `Task logs: \`${logsCommand}\`${folder ? ` (files under \`${folder}/\`)` : ''}`,
    `Task states: the \`taskStates\` query (Queries tab) or \`${statesCommand}\``,
  ];
  return {
    memo: { ...(folder ? { logs_folder: folder } : {}), logs_command: logsCommand, states_command: statesCommand },
    details: lines.join('\n\n'),
  };
}
