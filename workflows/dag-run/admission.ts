/**
 * A run waits in `queued` until it may start: the DAG's max_active_runs (a backfill's own for its
 * runs) and pause, decided in Postgres with the DAG's row locked (db/run-admission.repository.ts),
 * so queued runs start in logical-date order whichever way they were created. A waiting run asks
 * again when a finished run of its DAG (or an unpause) wakes it, and otherwise every few seconds,
 * backing off to 30 s. A finished run wakes the queued runs that may start next. Histories from
 * before this change never asked (patch run-admission).
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setHandler,
} from '@temporalio/workflow';
import { admissionWakeSignal } from '../messages.js';
import type { DagRunInput } from '../types.js';
import { local } from './activities.js';

export const RUN_ADMISSION = 'run-admission';

const FIRST_RECHECK_MS = 1_000;
const MAX_RECHECK_MS = 30_000;

/** Waits until the run is admitted (and marked running); a fresh run only, not a continued or re-opened one. */
export async function awaitAdmission(input: DagRunInput): Promise<void> {
  if (input.carried !== undefined || input.reopen !== undefined || !patched(RUN_ADMISSION)) return;
  let woken = false;
  setHandler(admissionWakeSignal, () => {
    woken = true;
  });
  let wait = FIRST_RECHECK_MS;
  try {
    for (;;) {
      const decision = await local.admitRun({ dagId: input.dagId, runId: input.runId });
      if (decision.admitted) return;
      woken = false;
      await condition(() => woken, wait);
      wait = Math.min(wait * 2, MAX_RECHECK_MS);
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() =>
        local.recordStates({
          dagId: input.dagId,
          runId: input.runId,
          tasks: [],
          run: { state: 'failed', error: 'cancelled while queued', end: true },
        }),
      );
    }
    throw err;
  }
}

/** Wakes the queued runs of the DAG that may start now that this one has ended. */
export async function wakeQueuedRuns(input: DagRunInput): Promise<void> {
  if (!patched(RUN_ADMISSION)) return;
  await CancellationScope.nonCancellable(async () => {
    const ids = await local.queuedRunsToWake({ dagId: input.dagId });
    // A run that already ended or has not started yet needs no wake: it asks by itself.
    await Promise.all(
      ids.map((id) =>
        getExternalWorkflowHandle(id)
          .signal(admissionWakeSignal)
          .catch(() => undefined),
      ),
    );
  });
}
