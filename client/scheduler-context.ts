/** What the scheduler's functions (client/schedules.ts, client/continuous.ts) work with. */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { RunOptions } from '../workflows/types.js';

export interface SchedulerContext {
  db: Kysely<Database>;
  client: Client;
  /** Options of the runs it starts (and the task queue of the tick workflows). */
  runOptions: RunOptions;
  logsFolder?: string | null;
  /** The clock (tests and benchmarks pin it); default Date.now. */
  now?: () => Date;
  log?: (line: string) => void;
}
