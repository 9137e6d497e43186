/**
 * Run admission as activities: may a queued DAG run start (max_active_runs, pause), and which
 * queued runs a finished one should wake. The decisions are db/run-admission.repository.ts's.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { admitQueuedRun, queuedRunsToWake } from '../db/run-admission.repository.js';
import type { AdmitRunRequest, AdmitRunResult } from '../workflows/types.js';

export function makeRunAdmission(db: Kysely<Database>) {
  return {
    admitRun: (req: AdmitRunRequest): Promise<AdmitRunResult> => admitQueuedRun(db, req.dagId, req.runId),
    queuedRunsToWake: (req: { dagId: string }): Promise<string[]> => queuedRunsToWake(db, req.dagId),
  };
}
