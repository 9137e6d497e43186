/**
 * Output of in-process task functions goes to their try's log, masked, instead of the worker's
 * terminal (where secrets the try rendered were printed in clear and the task log never saw it).
 *
 * process.stdout.write and process.stderr.write are wrapped once per process; console.log/info/
 * debug (stdout) and warn/error (stderr) go through them. An AsyncLocalStorage scope, entered
 * around each try's execution, says which try a write belongs to, so tries running concurrently
 * in one worker each get their own lines. Writes outside any scope (the worker itself, other
 * libraries) pass through untouched. Output a function makes after its try has ended (a timed-out
 * function cannot be stopped) goes to the worker's stream, masked and labelled with the try.
 * Not captured: child processes the function starts with inherited stdio (they write to the file
 * descriptors directly; use the process executor for programs).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecutionRequest, ExecutionResult, Executor, LogStream, TaskLogSink } from './types.js';

type CapturedStream = Extract<LogStream, 'stdout' | 'stderr'>;
type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;

interface CaptureScope {
  sink: TaskLogSink;
  /** dag/run/task[map]#try, for output that arrives after the try ended. */
  label: string;
  open: boolean;
  /** Text after the last newline, per stream: lines are stored whole. */
  partial: Record<CapturedStream, string>;
}

const scopes = new AsyncLocalStorage<CaptureScope>();
const originals: Partial<Record<CapturedStream, Write>> = {};

function chunkText(chunk: unknown, encoding: unknown): string {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array)
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(
      typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8',
    );
  return String(chunk);
}

function emit(scope: CaptureScope, stream: CapturedStream, line: string): void {
  if (scope.open) {
    scope.sink.write(stream, line);
    return;
  }
  // The try is over and its log closed: tell the operator on the worker's own stream, masked.
  const masked = scope.sink.redact ? scope.sink.redact(line) : '(output withheld: it cannot be masked)';
  originals[stream]!.call(
    stream === 'stdout' ? process.stdout : process.stderr,
    `[${scope.label}, after its try ended] ${masked}\n`,
  );
}

function flushPartial(scope: CaptureScope, stream: CapturedStream): void {
  if (scope.partial[stream] !== '') emit(scope, stream, scope.partial[stream]);
  scope.partial[stream] = '';
}

function wrap(stream: CapturedStream, target: NodeJS.WriteStream): void {
  if (originals[stream]) return;
  const original = target.write as unknown as Write;
  originals[stream] = original;
  const write: Write = function (this: NodeJS.WriteStream, chunk, encoding, callback) {
    const scope = scopes.getStore();
    // eslint-disable-next-line prefer-rest-params -- pass every argument on exactly as given
    if (scope === undefined) return original.apply(this, arguments as unknown as Parameters<Write>);
    const lines = (scope.partial[stream] + chunkText(chunk, encoding)).split('\n');
    scope.partial[stream] = lines.pop()!;
    for (const line of lines) emit(scope, stream, line.endsWith('\r') ? line.slice(0, -1) : line);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  };
  target.write = write as unknown as typeof target.write;
}

/** Runs `work` with everything it writes to stdout/stderr going to `sink` (see the module comment). */
export async function captureConsole<T>(sink: TaskLogSink, label: string, work: () => Promise<T>): Promise<T> {
  wrap('stdout', process.stdout);
  wrap('stderr', process.stderr);
  const scope: CaptureScope = { sink, label, open: true, partial: { stdout: '', stderr: '' } };
  try {
    return await scopes.run(scope, work);
  } finally {
    flushPartial(scope, 'stdout');
    flushPartial(scope, 'stderr');
    scope.open = false;
  }
}

/** The in-process executor with its functions' console output captured per try. */
export function withConsoleCapture(executor: Executor): Executor {
  return {
    name: executor.name,
    execute: (req: ExecutionRequest): Promise<ExecutionResult> => {
      const label = `${req.dagId}/${req.runId}/${req.taskId}${req.mapIndex >= 0 ? `[${req.mapIndex}]` : ''}#${req.tryNumber}`;
      return captureConsole(req.log, label, () => executor.execute(req));
    },
  };
}
