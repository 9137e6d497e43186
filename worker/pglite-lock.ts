/**
 * PGlite is single-process: two processes opening the same data directory corrupt it. Whoever
 * opens it directly takes this lock (a pid file created exclusively); a lock left by a dead
 * process (gone, or its pid reused by another process: the start time differs) is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, processStartTime } from './processes.js';

export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
}

interface LockOwner {
  pid: number;
  holder: string;
  /** Absent in locks written before it was recorded. */
  startTime?: string | null;
}

function holds(owner: LockOwner): boolean {
  if (!isAlive(owner.pid)) return false;
  return owner.startTime === undefined || owner.startTime === null || processStartTime(owner.pid) === owner.startTime;
}

/** Takes the lock for `pglitePath`; returns the release function. */
export function lockPglite(pglitePath: string, holder: string): () => void {
  const file = `${pglitePath}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(
        file,
        JSON.stringify({ pid: process.pid, holder, startTime: processStartTime(process.pid) } satisfies LockOwner),
        { flag: 'wx' },
      );
      return () => {
        try {
          const current = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number };
          if (current.pid === process.pid) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: LockOwner | null = null;
      try {
        owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
      } catch {
        owner = null;
      }
      if (owner && owner.pid !== process.pid && holds(owner)) {
        throw new DatabaseInUseError(
          `the embedded database ${pglitePath} is in use by "${owner.holder}" (pid ${owner.pid}). ` +
            'Wait for it to finish, use the CLI while `updraft dev` runs (it shares the database), or set DATABASE_URL.',
        );
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new DatabaseInUseError(`could not lock ${pglitePath}`);
}
