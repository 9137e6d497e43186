/**
 * The worker's scheduler: keeps one Temporal Schedule per scheduled DAG in step with the stored
 * DAGs (at start and after every change the DAG processor syncs), provides the activity behind
 * each schedule fire, and starts a @continuous DAG's next run when a run of it ends. The logic is
 * client/schedules.ts's and client/continuous.ts's; this wires it to the worker.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { startContinuousRun } from '../client/continuous.js';
import { createDueRuns, syncAllSchedules, syncDagSchedule, type SchedulerContext } from '../client/schedules.js';
import type { Database } from '../db/database.js';
import { getDag } from '../db/dag.repository.js';
import type { RunOptions, ScheduleActivities, ScheduleTickInput, ScheduleTickResult } from '../workflows/types.js';

export interface SchedulerOptions {
  db: Kysely<Database>;
  client: Client;
  runOptions: RunOptions;
  logsFolder: string | null;
  log?: (line: string) => void;
}

export class Scheduler {
  private readonly ctx: SchedulerContext;
  private syncing: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Next-run starts for @continuous DAGs in flight (stop() waits for them). */
  private readonly continuing = new Set<Promise<void>>();

  constructor(opts: SchedulerOptions) {
    this.ctx = {
      db: opts.db,
      client: opts.client,
      runOptions: opts.runOptions,
      logsFolder: opts.logsFolder,
      log: opts.log,
    };
  }

  /** The scheduleTick workflow's activity: create what is due, then write the next fire times. */
  activities(): ScheduleActivities {
    return {
      createScheduledRuns: async (input: ScheduleTickInput): Promise<ScheduleTickResult> => {
        const result = await createDueRuns(this.ctx, input.dagId);
        await syncDagSchedule(this.ctx, input.dagId, { createDue: false });
        return result;
      },
    };
  }

  /**
   * A run of the DAG ended (its workflow said so): a @continuous DAG gets its next run now. Not
   * awaited by the workflow; a failure is logged and the next schedule sync tries again.
   */
  runEnded(dagId: string): void {
    const started = (async () => {
      const dag = await getDag(this.ctx.db, dagId);
      // The stored schedule's display name: most DAGs are not continuous, and need no more reads.
      if (dag?.schedule !== '@continuous') return;
      await startContinuousRun(this.ctx, dagId);
    })().catch((err: Error) =>
      this.ctx.log?.(
        `scheduler: DAG "${dagId}": starting its next @continuous run failed, the next sync tries again: ${err.message}`,
      ),
    );
    this.continuing.add(started);
    void started.finally(() => this.continuing.delete(started));
  }

  /** Syncs every DAG's schedule; calls never overlap (a second waits for the first). */
  syncAll(): Promise<unknown> {
    const next = this.syncing.catch(() => undefined).then(() => syncAllSchedules(this.ctx));
    this.syncing = next;
    return next;
  }

  /**
   * Syncs again every `intervalMs`: a pause or unpause made while no Temporal server was reachable,
   * or a schedule someone deleted by hand, is put right.
   */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.syncAll().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.syncing.catch(() => undefined);
    await Promise.all(this.continuing);
  }
}
