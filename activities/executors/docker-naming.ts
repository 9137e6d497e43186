/**
 * Deterministic container names and labels. The name is a function of (dag, run, task, map index,
 * try) only, so a worker that restarts after a crash finds the container the previous one started
 * and attaches to it instead of starting the work twice. Docker rejects a second container with the
 * same name, which also makes two racing workers safe.
 */
import { createHash } from 'node:crypto';

/** Docker's container name grammar is [a-zA-Z0-9][a-zA-Z0-9_.-]*; the API accepts up to 128 chars here. */
export const MAX_CONTAINER_NAME_LENGTH = 128;

export interface ContainerIdentity {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
}

export const LABELS = {
  dagId: 'updraft.dag_id',
  runId: 'updraft.run_id',
  taskId: 'updraft.task_id',
  mapIndex: 'updraft.map_index',
  tryNumber: 'updraft.try_number',
  managed: 'updraft.managed',
} as const;

function sanitise(part: string): string {
  return part.replace(/[^a-zA-Z0-9_.-]+/g, '_');
}

/**
 * `updraft-<dag>-<task>[-<map>]-t<try>-<run>-<hash>`: readable in `docker ps`, and the hash of the
 * unsanitised identity keeps two identities distinct even when sanitising or truncating makes
 * their readable parts equal.
 */
export function containerName(id: ContainerIdentity): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([id.dagId, id.runId, id.taskId, id.mapIndex, id.tryNumber]))
    .digest('hex')
    .slice(0, 12);
  const tail = `${id.mapIndex >= 0 ? `-m${id.mapIndex}` : ''}-t${id.tryNumber}`;
  const suffix = `-${hash}`;
  // Budget the readable parts so the whole name fits; dag and task ids matter most to a reader.
  const budget = MAX_CONTAINER_NAME_LENGTH - 'updraft-'.length - tail.length - suffix.length - 2;
  let dag = sanitise(id.dagId);
  let task = sanitise(id.taskId);
  let run = sanitise(id.runId);
  const share = Math.floor(budget / 3);
  if (dag.length + task.length + run.length > budget) {
    run = run.slice(0, Math.max(share, budget - dag.length - task.length));
    const rest = budget - run.length;
    if (dag.length + task.length > rest) {
      dag = dag.slice(0, Math.max(Math.floor(rest / 2), rest - task.length));
      task = task.slice(0, rest - dag.length);
    }
  }
  return `updraft-${dag}-${task}${tail}-${run}${suffix}`;
}

export function containerLabels(id: ContainerIdentity): Record<string, string> {
  return {
    [LABELS.dagId]: id.dagId,
    [LABELS.runId]: id.runId,
    [LABELS.taskId]: id.taskId,
    [LABELS.mapIndex]: String(id.mapIndex),
    [LABELS.tryNumber]: String(id.tryNumber),
    [LABELS.managed]: 'true',
  };
}
