import { TaskExecutionError } from './executors/types.js';

/** Sleeps `ms`, or rejects with a `cancelled` TaskExecutionError (saying `what`) when the signal fires. */
export function abortableSleep(ms: number, signal: AbortSignal, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancelled = (): void => reject(new TaskExecutionError(what, 'cancelled'));
    if (signal.aborted) return cancelled();
    const onAbort = (): void => {
      clearTimeout(timer);
      cancelled();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
