/**
 * Task-queue routing, shared by the workflow (which queue a task goes to) and the workers (which
 * queues they poll). Pure. A task's own `queue` always wins (Airflow's queue).
 */
import type { TaskSpec } from '../spec/dag-spec.js';

/** The queue GPU tasks go to: `<base>-gpu`, or `<base>-gpu-<type>` when a GPU type is asked for. */
export function gpuTaskQueue(base: string, gpuType: string | null): string {
  return gpuType ? `${base}-gpu-${gpuType}` : `${base}-gpu`;
}

export function taskQueueFor(task: Pick<TaskSpec, 'queue' | 'resources'>, base: string): string {
  if (task.queue) return task.queue;
  if (task.resources && task.resources.gpu > 0) return gpuTaskQueue(base, task.resources.gpu_type);
  return base;
}
