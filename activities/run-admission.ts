/**
 * Run admission as activities: may a queued DAG run start (max_active_runs, pause), and which
 * queued runs a finished one should wake. The decisions are db/run-admission.repository.ts's.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { admitQueuedRun, queuedRunsToWake } from '../db/run-admission.repository.js';
import type { AdmitRunRequest, AdmitRunResult } from '../workflows/types.js';

/**
 * `onRunEnded`: told (without being awaited) when a run of the DAG ended: the workflow asks for
 * the runs to wake only then. The worker's scheduler starts a @continuous DAG's next run there.
 */
export function makeRunAdmission(db: Kysely<Database>, onRunEnded?: (dagId: string) => void) {
  return {
    admitRun: (req: AdmitRunRequest): Promise<AdmitRunResult> => admitQueuedRun(db, req.dagId, req.runId),
    queuedRunsToWake: async (req: { dagId: string }): Promise<string[]> => {
      const ids = await queuedRunsToWake(db, req.dagId);
      onRunEnded?.(req.dagId);
      return ids;
    },
  };
}
