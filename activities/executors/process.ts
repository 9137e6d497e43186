/**
 * The local process executor: runs a ProcessOperator's argv as a child process that leads its own
 * process group (so timeouts and cancellation kill grandchildren too), streams its output line by
 * line into the task log, heartbeats pid/pgid/start time, and after a worker crash kills the
 * orphaned group of the earlier attempt before starting afresh.
 *
 * Protocol with the program (documented in docs/tasks.md):
 * - UPDRAFT_INPUT_FILE: path of a file holding the task's input as JSON (always set);
 *   UPDRAFT_INPUT: the same JSON, when it is under 64 KiB.
 * - UPDRAFT_XCOM_DIR (= UPDRAFT_OUTPUT_DIR): an empty directory; `return.json` written there is the
 *   XCom return value; `metrics.jsonl`, `params.json`, `artifacts.json` the step output protocol v1
 *   (activities/step-outputs). Input artifacts are materialized under the try's `inputs/` folder.
 * - exit 0: success; SKIP_EXIT_CODE (99): skipped; FAIL_EXIT_CODE (98): failed without retries.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { Json, ProcessOperatorSpec } from '../../spec/dag-spec.js';
import {
  isSameProcessAlive,
  killProcessGroup,
  liveGroupMembers,
  parseProcessHandle,
  readProcStat,
} from './process-registry.js';
import { TaskExecutionError, specPartOf } from './types.js';
import { exitCodeFailure, type ExitFailureKind } from './exit-code.js';
import { parseReturnJson } from './return-json.js';
import type { ExecutionRequest, ExecutionResult, Executor, ExecutorHandle, LogStream } from './types.js';

export interface ProcessExecutorOptions {
  /** How long a process group gets between SIGTERM and SIGKILL. @default 5000 */
  killGraceMs?: number;
  /** How often the handle is heartbeated while the process runs. @default 2000 */
  heartbeatIntervalMs?: number;
}

/** Inputs at or above this size are passed only as a file: large environments break exec (E2BIG). */
export const INLINE_INPUT_LIMIT_BYTES = 64 * 1024;
/** Environment variable naming the try a process belongs to. */
export const TRY_KEY_VAR = 'UPDRAFT_TRY_KEY';
/** How many output lines a failure message quotes. */
const LAST_LINES = 20;
/** How long to wait for stdout/stderr to reach EOF once the group is gone (an escaped daemon may hold them). */
const STDIO_DRAIN_MS = 2000;
/** A "line" longer than this without a newline is logged in pieces rather than buffered without bound. */
const MAX_LINE_CHARS = 1024 * 1024;

export function createProcessExecutor(opts: ProcessExecutorOptions = {}): Executor {
  const killGraceMs = opts.killGraceMs ?? 5000;
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 2000;
  return {
    name: 'process',
    execute: (request) => executeProcess(request, killGraceMs, heartbeatIntervalMs),
  };
}

async function executeProcess(
  request: ExecutionRequest,
  killGraceMs: number,
  heartbeatIntervalMs: number,
): Promise<ExecutionResult> {
  const spec = specPartOf(request, 'process', 'process');
  const program = spec.argv[0];
  if (program === undefined || program === '') {
    throw new TaskExecutionError(
      `task "${request.taskId}": spec.process.argv must start with a non-empty program`,
      'error',
    );
  }
  // Marks every process of this try (inherited by children) so a leaderless orphan group can be
  // recognised after a crash; see isSameProcessAlive.
  const tryKey = JSON.stringify([request.dagId, request.runId, request.taskId, request.mapIndex, request.tryNumber]);

  await killOrphanOfCrashedAttempt(request, `${TRY_KEY_VAR}=${tryKey}`, killGraceMs);
  if (request.signal.aborted) {
    throw new TaskExecutionError(`process cancelled before it started${abortReason(request.signal)}`, 'cancelled');
  }
  if (spec.cwd !== null) await checkWorkingDirectory(spec.cwd);

  const workDir = await mkdtemp(join(tmpdir(), 'updraft-process-'));
  try {
    const stepInput = request.stepIO
      ? await request.stepIO.materialize(request.input, join(workDir, 'inputs'))
      : request.input;
    const inputJson = JSON.stringify(stepInput ?? null);
    const inputFile = join(workDir, 'input.json');
    const xcomDir = join(workDir, 'xcom');
    await writeFile(inputFile, inputJson);
    await mkdir(xcomDir);

    const env: NodeJS.ProcessEnv = { ...process.env, ...request.contextEnv, ...spec.env };
    env.UPDRAFT_INPUT_FILE = inputFile;
    if (Buffer.byteLength(inputJson) < INLINE_INPUT_LIMIT_BYTES) env.UPDRAFT_INPUT = inputJson;
    else delete env.UPDRAFT_INPUT;
    env.UPDRAFT_XCOM_DIR = xcomDir;
    env.UPDRAFT_OUTPUT_DIR = xcomDir;
    env[TRY_KEY_VAR] = tryKey;
    if (request.gpuDevices.length > 0) {
      env.CUDA_VISIBLE_DEVICES = request.gpuDevices.join(',');
      env.NVIDIA_VISIBLE_DEVICES = request.gpuDevices.join(',');
    }

    const run = await runChild(spec, env, request, killGraceMs, heartbeatIntervalMs);
    const result = await interpretOutcome(run, xcomDir);
    if (!request.stepIO) return result;
    const collected = await request.stepIO.collectFolder(xcomDir, result.returnValue);
    return { ...result, returnValue: collected.returnValue, outputs: collected.outputs };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * An earlier attempt of this try heartbeated a handle and then its worker died. Its process group
 * may still be running (it leads its own session, so it outlived the worker); running the task
 * again beside it would do the work twice, so kill it first.
 */
async function killOrphanOfCrashedAttempt(
  request: ExecutionRequest,
  tryKey: string,
  killGraceMs: number,
): Promise<void> {
  const previous = request.previousHandle;
  if (previous === undefined) return;
  const handle = parseProcessHandle(previous);
  if (handle === null) {
    request.log.write(
      'system',
      `ignoring the earlier attempt's handle: not a process handle (${JSON.stringify(previous)})`,
    );
    return;
  }
  if (handle.host !== hostname()) {
    request.log.write(
      'system',
      `the earlier attempt ran process group ${handle.pgid} on host ${handle.host}, not on this host (${hostname()}); it cannot be checked or killed from here`,
    );
    return;
  }
  if (!isSameProcessAlive(previous, { envMarker: tryKey })) {
    const leader = readProcStat(handle.pid);
    const why =
      leader !== null && leader.state !== 'Z' && leader.startTicks !== handle.startTicks
        ? `pid ${handle.pid} now belongs to another process (start time ${leader.startTicks}, expected ${handle.startTicks}); leaving it alone`
        : `process group ${handle.pgid} of the earlier attempt is no longer running`;
    request.log.write('system', `${why}; starting afresh`);
    return;
  }
  request.log.write(
    'system',
    `process group ${handle.pgid} (pid ${handle.pid}) from the earlier attempt of this try is still running after its worker crashed; sending SIGTERM`,
  );
  const outcome = await killProcessGroup(handle.pgid, killGraceMs, {
    onSigkill: (alive) => request.log.write('system', sigkillLine(handle.pgid, killGraceMs, alive)),
  });
  request.log.write(
    'system',
    outcome.survivors.length === 0
      ? `killed orphan process group ${handle.pgid} left by the crashed worker; starting afresh`
      : `orphan process group ${handle.pgid} left by the crashed worker still has processes ${outcome.survivors.join(', ')} after SIGKILL; starting afresh anyway`,
  );
}

async function checkWorkingDirectory(cwd: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(cwd)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new TaskExecutionError(`working directory "${cwd}" (spec.process.cwd) is not accessible (${code})`, 'error');
  }
  if (!isDirectory) {
    throw new TaskExecutionError(`working directory "${cwd}" (spec.process.cwd) is not a directory`, 'error');
  }
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the executor itself killed the group. */
  stoppedFor: 'timeout' | 'cancelled' | null;
  stopMessage: string;
  lastLines: string[];
  handle: ExecutorHandle;
}

async function runChild(
  spec: ProcessOperatorSpec,
  env: NodeJS.ProcessEnv,
  request: ExecutionRequest,
  killGraceMs: number,
  heartbeatIntervalMs: number,
): Promise<ChildRun> {
  const program = spec.argv[0] as string;
  // With `shell`, argv[0] is the script and further elements become $1, $2, ...: data is never
  // pasted into a shell string.
  const [file, args] = spec.shell
    ? ['/bin/sh', ['-c', program, 'sh', ...spec.argv.slice(1)]]
    : [program, spec.argv.slice(1)];

  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: spec.cwd ?? undefined,
      env,
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new TaskExecutionError(`cannot start program "${program}": ${(err as Error).message}`, 'error');
  }
  if (child.pid === undefined) {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
    throw new TaskExecutionError(spawnErrorMessage(program, err), 'error');
  }
  // ChildProcess emits 'error' later only if signalling it fails; unhandled, that would crash the worker.
  child.on('error', (err) => request.log.write('system', `process error: ${err.message}`));
  const pid = child.pid;
  // detached: the child called setsid(), so it leads a new session and process group.
  const pgid = pid;
  const startedAt = Date.now();
  const handle: ExecutorHandle = {
    executor: 'process',
    id: String(pgid),
    pid,
    pgid,
    startTicks: readProcStat(pid)?.startTicks ?? null,
    host: hostname(),
  };

  const lastLines: string[] = [];
  const output = (stream: LogStream) => (line: string) => {
    request.log.write(stream, line);
    lastLines.push(line);
    if (lastLines.length > LAST_LINES) lastLines.shift();
  };
  const stdoutDone = pipeLines(child.stdout as Readable, output('stdout'));
  const stderrDone = pipeLines(child.stderr as Readable, output('stderr'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  let heartbeatFailed = false;
  const beat = (): void => {
    try {
      request.heartbeat(handle);
    } catch (err) {
      // A throwing heartbeat must not crash the worker from a timer callback; say it once.
      if (!heartbeatFailed) request.log.write('system', `heartbeat failed: ${(err as Error).message}`);
      heartbeatFailed = true;
    }
  };
  beat();
  const heartbeatTimer = setInterval(beat, heartbeatIntervalMs);

  let exitedYet = false;
  let stoppedFor: ChildRun['stoppedFor'] = null;
  let stopMessage = '';
  let killing: Promise<unknown> | null = null;
  const stop = (reason: 'timeout' | 'cancelled', message: string, logLine: string): void => {
    if (exitedYet || stoppedFor !== null) return;
    stoppedFor = reason;
    stopMessage = message;
    request.log.write('system', `${logLine}; sending SIGTERM to process group ${pgid}`);
    killing = killProcessGroup(pgid, killGraceMs, {
      onSigkill: (alive) => request.log.write('system', sigkillLine(pgid, killGraceMs, alive)),
    }).catch((err: unknown) =>
      request.log.write('system', `killing process group ${pgid} failed: ${(err as Error).message}`),
    );
  };
  const timeoutTimer =
    request.timeoutMs === null
      ? null
      : setTimeout(() => {
          const ran = formatMs(Date.now() - startedAt);
          stop(
            'timeout',
            `process timed out: it ran ${ran}, over its execution timeout of ${formatMs(request.timeoutMs ?? 0)}; process group ${pgid} was killed`,
            `execution timeout of ${formatMs(request.timeoutMs ?? 0)} reached after ${ran}`,
          );
        }, request.timeoutMs);
  const onAbort = (): void => {
    const ran = formatMs(Date.now() - startedAt);
    const reason = abortReason(request.signal);
    stop(
      'cancelled',
      `process cancelled after running ${ran}${reason}; process group ${pgid} was killed`,
      `cancelled after ${ran}${reason}`,
    );
  };
  if (request.signal.aborted) onAbort();
  else request.signal.addEventListener('abort', onAbort, { once: true });

  try {
    const { code, signal } = await exited;
    exitedYet = true;
    if (timeoutTimer !== null) clearTimeout(timeoutTimer);
    request.signal.removeEventListener('abort', onAbort);
    if (killing !== null) {
      await killing;
    } else {
      // Background children (`cmd &`) would outlive the task and hold its output open: end them.
      const strays = liveGroupMembers(pgid);
      if (strays.length > 0) {
        request.log.write(
          'system',
          `the main process exited but ${strays.length} process(es) of its group are still running (${strays.join(', ')}); sending SIGTERM to process group ${pgid}`,
        );
        await killProcessGroup(pgid, killGraceMs, {
          onSigkill: (alive) => request.log.write('system', sigkillLine(pgid, killGraceMs, alive)),
        });
      }
    }
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([stdoutDone.done, stderrDone.done]).then(() => true),
      new Promise<boolean>((resolve) => {
        drainTimer = setTimeout(() => resolve(false), STDIO_DRAIN_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    if (!drained) {
      request.log.write(
        'system',
        `output pipes still open ${formatMs(STDIO_DRAIN_MS)} after the process group ended (a process left the group); closing them`,
      );
      stdoutDone.close();
      stderrDone.close();
    }
    return { code, signal, stoppedFor, stopMessage, lastLines, handle };
  } finally {
    clearInterval(heartbeatTimer);
    if (timeoutTimer !== null) clearTimeout(timeoutTimer);
    request.signal.removeEventListener('abort', onAbort);
  }
}

async function interpretOutcome(run: ChildRun, xcomDir: string): Promise<ExecutionResult> {
  const { code, signal, lastLines } = run;
  if (run.stoppedFor !== null) {
    throw new TaskExecutionError(withLastLines(run.stopMessage, lastLines), run.stoppedFor, code, lastLines);
  }
  if (signal !== null) {
    const hint = signal === 'SIGKILL' ? ' (if nothing else killed it, the kernel may have run out of memory)' : '';
    throw new TaskExecutionError(
      withLastLines(`process was killed by signal ${signal}${hint}`, lastLines),
      'exit',
      null,
      lastLines,
    );
  }
  // Node reports an exit code whenever it reports no signal; null here would be a Node bug.
  if (code === null)
    throw new TaskExecutionError(
      withLastLines('process ended with neither an exit code nor a signal', lastLines),
      'exit',
      null,
      lastLines,
    );
  const failure = exitCodeFailure(code, lastLines, (kind) => processExitMessage(code, kind, lastLines));
  if (failure) throw failure;
  return { returnValue: await readReturnValue(xcomDir), exitCode: 0, handle: run.handle };
}

async function readReturnValue(xcomDir: string): Promise<Json | undefined> {
  const file = join(xcomDir, 'return.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TaskExecutionError(
      `cannot read $UPDRAFT_XCOM_DIR/return.json (${file}): ${(err as Error).message}`,
      'error',
      0,
    );
  }
  try {
    return parseReturnJson(text, `$UPDRAFT_XCOM_DIR/return.json (${file})`);
  } catch (err) {
    throw new TaskExecutionError((err as Error).message, 'error', 0);
  }
}

function spawnErrorMessage(program: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `program "${program}" not found (ENOENT)`;
    case 'EACCES':
      return `program "${program}" is not executable (EACCES)`;
    default:
      return `cannot start program "${program}": ${err.message}`;
  }
}

function processExitMessage(code: number, kind: ExitFailureKind, lastLines: string[]): string {
  if (kind === 'skip') return `process exited with code ${code} (SKIP_EXIT_CODE): task skipped`;
  if (kind === 'fail')
    return withLastLines(`process exited with code ${code} (FAIL_EXIT_CODE): task failed without retries`, lastLines);
  return withLastLines(`process exited with code ${code}`, lastLines);
}

function withLastLines(message: string, lastLines: string[]): string {
  if (lastLines.length === 0) return `${message} (no output)`;
  return `${message}. Last ${lastLines.length} line(s) of output:\n${lastLines.join('\n')}`;
}

function sigkillLine(pgid: number, graceMs: number, alive: number[]): string {
  return `process group ${pgid} still has ${alive.length} process(es) running ${formatMs(graceMs)} after SIGTERM (${alive.join(', ')}); sending SIGKILL`;
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string' && reason !== '') return ` (${reason})`;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') return ` (${reason.message})`;
  return '';
}

/** Milliseconds as seconds for messages: 1500 → "1.5s", 60000 → "60s". */
export function formatMs(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

/**
 * Splits text into lines as it arrives: a line is emitted once its '\n' is seen (trailing '\r'
 * dropped), multi-byte characters split across chunks are decoded whole, and a final line without
 * a newline is emitted at the end.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) >= 0) {
      this.emitLine(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
    }
    while (this.pending.length >= MAX_LINE_CHARS) {
      this.emit(this.pending.slice(0, MAX_LINE_CHARS));
      this.pending = this.pending.slice(MAX_LINE_CHARS);
    }
  }

  end(): void {
    this.pending += this.decoder.end();
    if (this.pending !== '') this.emitLine(this.pending);
    this.pending = '';
  }

  private emitLine(line: string): void {
    this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

/** Feeds a stream into a LineSplitter; `done` resolves at EOF, `close()` gives up on EOF. */
function pipeLines(stream: Readable, emit: (line: string) => void): { done: Promise<void>; close(): void } {
  const splitter = new LineSplitter(emit);
  let ended = false;
  const finish = (): void => {
    if (ended) return;
    ended = true;
    splitter.end();
  };
  stream.on('data', (chunk: Buffer) => {
    if (!ended) splitter.write(chunk);
  });
  const done = new Promise<void>((resolve) => {
    stream.once('end', () => {
      finish();
      resolve();
    });
    stream.once('close', () => {
      finish();
      resolve();
    });
    stream.once('error', () => {
      finish();
      resolve();
    });
  });
  return {
    done,
    close: () => {
      stream.destroy();
      finish();
    },
  };
}
