import type { Kysely } from 'kysely';
import type { Database, LogStream } from './database.js';
import { chunkForParameters } from './transaction.js';

export interface TaskLogLine {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  stream: LogStream;
  line: string;
  /** When the line was produced; default the insert time. */
  ts?: Date;
}

export interface TaskTryRef {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
}

export interface ReadTaskLogOptions {
  /** Only lines after this id (a continuation token for tailing). */
  after_id?: number;
  limit?: number;
}

export interface TaskLogEntry {
  id: number;
  ts: Date;
  stream: LogStream;
  line: string;
}

const LOG_COLUMNS = 8;

/**
 * Postgres text cannot hold NUL; process output sometimes does. It becomes U+FFFD, as an invalid
 * byte would, rather than losing the whole batch.
 */
function sanitizeLine(line: string): string {
  return line.includes('\u0000') ? line.replaceAll('\u0000', '\uFFFD') : line;
}

/**
 * Appends log lines in the order given (ids are assigned in order, and reads sort by id). Large
 * batches are split into statements under the bind-parameter limit. Returns the number written.
 */
export async function appendTaskLogs(db: Kysely<Database>, lines: readonly TaskLogLine[]): Promise<number> {
  for (const chunk of chunkForParameters(lines, LOG_COLUMNS)) {
    await db
      .insertInto('task_log')
      .values(
        chunk.map((l) => ({
          dag_id: l.dag_id,
          run_id: l.run_id,
          task_id: l.task_id,
          map_index: l.map_index,
          try_number: l.try_number,
          stream: l.stream,
          line: sanitizeLine(l.line),
          ...(l.ts === undefined ? {} : { ts: l.ts }),
        })),
      )
      .execute();
  }
  return lines.length;
}

/** One try's log lines, in the order they were appended. */
export async function readTaskLog(
  db: Kysely<Database>,
  ref: TaskTryRef,
  opts: ReadTaskLogOptions = {},
): Promise<TaskLogEntry[]> {
  let query = db
    .selectFrom('task_log')
    .select(['id', 'ts', 'stream', 'line'])
    .where('dag_id', '=', ref.dag_id)
    .where('run_id', '=', ref.run_id)
    .where('task_id', '=', ref.task_id)
    .where('map_index', '=', ref.map_index)
    .where('try_number', '=', ref.try_number)
    .orderBy('id');
  if (opts.after_id !== undefined) query = query.where('id', '>', opts.after_id);
  if (opts.limit !== undefined) query = query.limit(opts.limit);
  return query.execute();
}

/** The try numbers of a task instance that have log lines, ascending. */
export async function listLogTries(db: Kysely<Database>, ref: Omit<TaskTryRef, 'try_number'>): Promise<number[]> {
  const rows = await db
    .selectFrom('task_log')
    .select('try_number')
    .distinct()
    .where('dag_id', '=', ref.dag_id)
    .where('run_id', '=', ref.run_id)
    .where('task_id', '=', ref.task_id)
    .where('map_index', '=', ref.map_index)
    .orderBy('try_number')
    .execute();
  return rows.map((r) => r.try_number);
}
