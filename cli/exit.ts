/**
 * Ending the CLI process without losing output. Writes to a pipe are asynchronous on POSIX: a
 * `process.exit` right after a large write drops whatever the pipe had not taken yet (a
 * `… -o json | jq` got the first 64 KiB). The CLI still exits explicitly because Temporal's native
 * runtime can keep the event loop alive after the command is done.
 */

/** Resolves once everything written to `stream` so far has been handed to the OS (or the stream failed). */
export function drained(
  stream: NodeJS.WritableStream & { destroyed?: boolean; writableLength?: number },
): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('error', done);
      resolve();
    };
    // A reader that went away (EPIPE, e.g. `| head`) ends the wait instead of crashing the exit.
    stream.once('error', done);
    // Writes complete in order, so the callback of an empty write runs after every earlier one.
    stream.write('', () => done());
  });
}

/** Exits with `code` once stdout and stderr are drained. */
export async function exitAfterDrain(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
