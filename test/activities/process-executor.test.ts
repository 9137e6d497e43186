/// <reference types="mocha" />
/**
 * The local process executor against real processes: no mocks of child_process. Process-group
 * checks read /proc directly (independently of process-registry.ts) so that a bug there cannot hide
 * a surviving process.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { createProcessExecutor, LineSplitter } from '../../activities/executors/process.js';
import { isSameProcessAlive, killProcessGroup, parseProcStat } from '../../activities/executors/process-registry.js';
import { TaskExecutionError } from '../../activities/executors/types.js';
import type { ExecutionRequest, ExecutorHandle, LogStream, TaskLogSink } from '../../activities/executors/types.js';
import type { Json, ProcessOperatorSpec, TaskSpec } from '../../spec/dag-spec.js';
import { baseTaskSpec } from '../helpers/task-spec.js';

// Compiled to dist/test/activities/; the fixtures stay in the source tree.
const FIXTURES = resolve(__dirname, '../../../test/activities/fixtures');
const SH = '/bin/sh';

class RecordingSink implements TaskLogSink {
  readonly lines: Array<{ stream: LogStream; line: string }> = [];
  private readonly waiters: Array<{ match: (line: string) => boolean; resolve: () => void }> = [];

  write(stream: LogStream, line: string): void {
    this.lines.push({ stream, line });
    for (const w of [...this.waiters]) {
      if (w.match(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l.line);
  }

  /** Resolves when a line equal to `text` is written. */
  waitFor(text: string): Promise<void> {
    if (this.lines.some((l) => l.line === text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match: (line) => line === text, resolve }));
  }

  of(stream: LogStream): string[] {
    return this.lines.filter((l) => l.stream === stream).map((l) => l.line);
  }
}

function taskSpec(process: ProcessOperatorSpec): TaskSpec {
  return baseTaskSpec({
    task_id: 'step',
    kind: 'process',
    operator: 'ProcessOperator',
    resources: { cpu: null, memory: null, gpu: 0, gpu_type: null },
    process,
  });
}

interface TestRequest extends ExecutionRequest {
  log: RecordingSink;
  heartbeats: ExecutorHandle[];
}

function request(
  process: Partial<ProcessOperatorSpec> & { argv: string[] },
  overrides: Partial<Omit<ExecutionRequest, 'log' | 'heartbeat'>> = {},
): TestRequest {
  const heartbeats: ExecutorHandle[] = [];
  return {
    dagId: 'dag',
    runId: 'manual__2024-01-01',
    taskId: 'step',
    mapIndex: -1,
    tryNumber: 1,
    spec: taskSpec({ env: {}, cwd: null, shell: false, ...process }),
    input: null,
    contextEnv: {},
    timeoutMs: null,
    signal: new AbortController().signal,
    previousHandle: undefined,
    gpuDevices: [],
    ...overrides,
    log: new RecordingSink(),
    heartbeats,
    heartbeat: (handle) => heartbeats.push(handle),
  };
}

async function expectFailure(promise: Promise<unknown>): Promise<TaskExecutionError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(TaskExecutionError);
    return err as TaskExecutionError;
  }
  throw new Error('expected the execution to fail, but it succeeded');
}

/** Non-zombie processes whose process group is `pgid`, read straight from /proc. */
function runningInGroup(pgid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') found.push(Number(entry));
  }
  return found;
}

/** Whether `pid` is a running (non-zombie) process. */
function isRunning(pid: number): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function startTicksOf(pid: number): number {
  const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (stat === null) throw new Error(`cannot parse /proc/${pid}/stat`);
  return stat.startTicks;
}

/** pids printed by tree.sh ("child N", "stubborn N", "grandchild N"). */
function treePids(lines: string[]): number[] {
  return lines.flatMap((line) => {
    const m = /^(?:child|stubborn|grandchild) (\d+)$/.exec(line);
    return m ? [Number(m[1])] : [];
  });
}

function workDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('updraft-process-'));
}

/** Starts a detached process tree ourselves (standing in for the crashed worker's child). */
async function startOrphanTree(
  env: NodeJS.ProcessEnv = process.env,
  script = `${FIXTURES}/tree.sh`,
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(SH, [script], { detached: true, stdio: ['ignore', 'pipe', 'inherit'], env });
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  child.stdout?.on('data', (chunk: Buffer) => splitter.write(chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`orphan tree did not get ready: ${lines.join(' | ')}`)), 10_000);
    child.stdout?.on('data', () => {
      if (lines.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, lines };
}

describe('process executor', function () {
  const executor = createProcessExecutor({ killGraceMs: 500, heartbeatIntervalMs: 100 });
  const leftovers: number[] = [];
  let dirsBefore: string[];

  before(() => {
    dirsBefore = workDirs();
  });

  afterEach(async () => {
    // Never leave a test's process groups behind, whatever the assertions said.
    for (const pgid of leftovers.splice(0)) {
      if (runningInGroup(pgid).length > 0) await killProcessGroup(pgid, 0);
    }
    expect(
      workDirs().filter((d) => !dirsBefore.includes(d)),
      'temporary directories left behind',
    ).to.deep.equal([]);
  });

  it('is named "process"', () => {
    expect(executor.name).to.equal('process');
  });

  it('streams stdout and stderr line by line, in order, and reads return.json', async () => {
    const req = request({ argv: [SH, `${FIXTURES}/output.sh`] }, { input: { n: 1 } });
    const result = await executor.execute(req);
    expect(result.exitCode).to.equal(0);
    expect(result.returnValue).to.deep.equal({ rows: 3, input: { n: 1 } });
    expect(req.log.lines).to.deep.equal([
      { stream: 'stdout', line: 'out 1' },
      { stream: 'stderr', line: 'err 1' },
      { stream: 'stdout', line: 'out 2 partial' },
      { stream: 'stdout', line: 'out 3 é' },
      { stream: 'stderr', line: 'err 2' },
      { stream: 'stdout', line: 'out final unterminated' },
    ]);
    expect(result.handle?.executor).to.equal('process');
    expect(result.handle?.id).to.equal(String(result.handle?.pgid));
  });

  it('returns undefined when the process writes no return.json', async () => {
    const result = await executor.execute(request({ argv: ['/bin/true'] }));
    expect(result).to.include({ returnValue: undefined, exitCode: 0 });
  });

  it('passes input (env and file), the XCom dir, context and spec env, and cleans them up', async () => {
    const input: Json = { rows: [1, 2, 3], path: 's3://bucket/key' };
    const req = request(
      {
        argv: [process.execPath, `${FIXTURES}/report-env.js`, 'a b', '$(id)'],
        env: { FROM_SPEC: 'spec', OVERRIDDEN: 'spec' },
        cwd: FIXTURES,
      },
      { input, contextEnv: { FROM_CONTEXT: 'ctx', OVERRIDDEN: 'ctx' }, tryNumber: 2 },
    );
    const result = await executor.execute(req);
    const report = result.returnValue as Record<string, Json>;
    expect(report.argv).to.deep.equal(['a b', '$(id)']);
    expect(report.cwd).to.equal(FIXTURES);
    expect(report.UPDRAFT_INPUT).to.equal(JSON.stringify(input));
    expect(report.inputFileContent).to.equal(JSON.stringify(input));
    expect(report.xcomDirEntries).to.deep.equal([]);
    expect(report).to.include({ FROM_CONTEXT: 'ctx', FROM_SPEC: 'spec', OVERRIDDEN: 'spec', PATH_SET: true });
    expect(report.UPDRAFT_TRY_KEY).to.equal('["dag","manual__2024-01-01","step",-1,2]');
    expect(report.CUDA_VISIBLE_DEVICES).to.equal(process.env.CUDA_VISIBLE_DEVICES ?? null);
    expect(existsSync(report.UPDRAFT_INPUT_FILE as string), 'input file removed').to.equal(false);
    expect(existsSync(report.UPDRAFT_XCOM_DIR as string), 'xcom dir removed').to.equal(false);
    expect(req.log.of('stdout')).to.deep.equal(['reported']);
  });

  it('passes a 64 KiB or larger input only as a file', async () => {
    const input = 'x'.repeat(70_000);
    const result = await executor.execute(
      request({ argv: [process.execPath, `${FIXTURES}/report-env.js`] }, { input }),
    );
    const report = result.returnValue as Record<string, Json>;
    expect(report.UPDRAFT_INPUT).to.equal(null);
    expect(report.inputFileContent).to.equal(JSON.stringify(input));
  });

  it('sets CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES from gpuDevices, over the spec env', async () => {
    const req = request(
      { argv: [process.execPath, `${FIXTURES}/report-env.js`], env: { CUDA_VISIBLE_DEVICES: '7' } },
      { gpuDevices: ['0', '2'] },
    );
    const report = (await executor.execute(req)).returnValue as Record<string, Json>;
    expect(report).to.include({ CUDA_VISIBLE_DEVICES: '0,2', NVIDIA_VISIBLE_DEVICES: '0,2' });
  });

  it('heartbeats pid, pgid, start time and host right after spawn and while running', async () => {
    const req = request({ argv: [SH, '-c', 'cat /proc/$$/stat; sleep 0.6'] });
    const result = await executor.execute(req);
    const stat = parseProcStat(req.log.of('stdout')[0] ?? '');
    expect(stat).to.not.equal(null);
    const expected = {
      executor: 'process',
      id: String(stat?.pid),
      pid: stat?.pid,
      pgid: stat?.pid,
      startTicks: stat?.startTicks,
      host: hostname(),
    };
    expect(stat?.pgrp).to.equal(stat?.pid, 'the child leads its own process group');
    expect(req.heartbeats[0]).to.deep.equal(expected);
    expect(req.heartbeats.length).to.be.within(3, 9);
    expect(result.handle).to.deep.equal(expected);
  });

  it('does not interpret $(...) or other shell syntax when shell is false', async () => {
    const req = request({ argv: ['echo', '$(echo hacked)', '`id`', '; echo two', '$HOME'] });
    await executor.execute(req);
    expect(req.log.of('stdout')).to.deep.equal(['$(echo hacked) `id` ; echo two $HOME']);
  });

  it('runs argv[0] as a /bin/sh script when shell is true, further elements as $1...', async () => {
    const req = request({ argv: ['echo "$1|$(echo sub)|$#"', 'a b; echo injected'], shell: true });
    await executor.execute(req);
    expect(req.log.of('stdout')).to.deep.equal(['a b; echo injected|sub|1']);
  });

  it('fails a non-zero exit with the code and the last 20 lines of output', async () => {
    const req = request({ argv: [SH, '-c', 'for i in $(seq 1 25); do echo "line $i"; done; echo oops >&2; exit 3'] });
    const err = await expectFailure(executor.execute(req));
    const last = [...Array.from({ length: 19 }, (_, i) => `line ${i + 7}`), 'oops'];
    expect(err.message).to.equal(`process exited with code 3. Last 20 line(s) of output:\n${last.join('\n')}`);
    expect(err.kind).to.equal('exit');
    expect(err.exitCode).to.equal(3);
    expect(err.lastLines).to.deep.equal(last);
  });

  it('says "no output" for a silent failure', async () => {
    const err = await expectFailure(executor.execute(request({ argv: ['/bin/false'] })));
    expect(err.message).to.equal('process exited with code 1 (no output)');
  });

  it('names the signal that killed the process', async () => {
    const err = await expectFailure(executor.execute(request({ argv: [SH, '-c', 'echo bye; kill -USR1 $$'] })));
    expect(err.message).to.equal('process was killed by signal SIGUSR1. Last 1 line(s) of output:\nbye');
    expect(err.kind).to.equal('exit');
    expect(err.exitCode).to.equal(null);
  });

  it('maps exit code 99 to skip and 98 to fail', async () => {
    const skip = await expectFailure(executor.execute(request({ argv: [SH, '-c', 'exit 99'] })));
    expect(skip.message).to.equal('process exited with code 99 (SKIP_EXIT_CODE): task skipped');
    expect([skip.kind, skip.exitCode]).to.deep.equal(['skip', 99]);
    const fail = await expectFailure(executor.execute(request({ argv: [SH, '-c', 'echo bad data; exit 98'] })));
    expect(fail.message).to.equal(
      'process exited with code 98 (FAIL_EXIT_CODE): task failed without retries. Last 1 line(s) of output:\nbad data',
    );
    expect([fail.kind, fail.exitCode]).to.deep.equal(['fail', 98]);
  });

  it('fails with a clear error when the program does not exist or cannot be executed', async () => {
    const err = await expectFailure(executor.execute(request({ argv: ['updraft-no-such-program', '--flag'] })));
    expect(err.message).to.equal('program "updraft-no-such-program" not found (ENOENT)');
    expect(err.kind).to.equal('error');
    const notExecutable = await expectFailure(executor.execute(request({ argv: [FIXTURES] })));
    expect(notExecutable.message).to.equal(`program "${FIXTURES}" is not executable (EACCES)`);
  });

  it('fails with a clear error when cwd does not exist or is not a directory', async () => {
    const missing = await expectFailure(
      executor.execute(request({ argv: ['/bin/true'], cwd: '/nonexistent/updraft-cwd' })),
    );
    expect(missing.message).to.equal(
      'working directory "/nonexistent/updraft-cwd" (spec.process.cwd) is not accessible (ENOENT)',
    );
    expect(missing.kind).to.equal('error');
    const file = `${FIXTURES}/tree.sh`;
    const notDir = await expectFailure(executor.execute(request({ argv: ['/bin/true'], cwd: file })));
    expect(notDir.message).to.equal(`working directory "${file}" (spec.process.cwd) is not a directory`);
  });

  it('fails when return.json is not valid JSON, naming the file and its size but never quoting it', async () => {
    const err = await expectFailure(
      executor.execute(request({ argv: [SH, '-c', 'echo "{oops" > "$UPDRAFT_XCOM_DIR/return.json"'] })),
    );
    expect(err.message).to.match(
      /^\$UPDRAFT_XCOM_DIR\/return\.json \(\/.*\/updraft-process-[^/]+\/xcom\/return\.json\) is not valid JSON \(6 bytes\): expected a property name or '\}' at position 1$/,
    );
    expect(err.kind).to.equal('error');
    const token = await expectFailure(
      executor.execute(request({ argv: [SH, '-c', 'printf tok-abcdefghijklmnop > "$UPDRAFT_XCOM_DIR/return.json"'] })),
    );
    expect(token.message).to.match(/is not valid JSON \(20 bytes\): unexpected token$/);
    expect(token.message).to.not.contain('tok-');
  });

  it('ends background processes left running after the main process exits', async () => {
    const req = request({ argv: [SH, '-c', 'sleep 300 & echo "child $!"; echo done'] });
    const result = await executor.execute(req);
    expect(result.exitCode).to.equal(0);
    const [pid] = treePids(req.log.of('stdout'));
    expect(pid).to.be.a('number');
    expect(isRunning(pid as number)).to.equal(false);
    expect(runningInGroup(result.handle?.pgid as number)).to.deep.equal([]);
    expect(req.log.of('system')).to.deep.equal([
      `the main process exited but 1 process(es) of its group are still running (${pid}); sending SIGTERM to process group ${result.handle?.pgid}`,
    ]);
  });

  it('kills the whole process tree on timeout, grandchildren included (TERM, then KILL)', async () => {
    const req = request({ argv: [SH, `${FIXTURES}/tree.sh`] }, { timeoutMs: 1500 });
    const started = Date.now();
    const err = await expectFailure(executor.execute(req));
    const pgid = req.heartbeats[0]?.pgid as number;
    leftovers.push(pgid);
    expect(err.kind).to.equal('timeout');
    expect(err.message).to.match(
      new RegExp(
        `^process timed out: it ran 1\\.[5-9]s, over its execution timeout of 1\\.5s; process group ${pgid} was killed\\. Last \\d+ line\\(s\\) of output:\\n`,
      ),
    );
    expect(Date.now() - started).to.be.below(1500 + 500 + 1500);
    const pids = treePids(req.log.of('stdout'));
    expect(pids).to.have.length(4);
    expect(pids.filter(isRunning), 'processes of the tree still running').to.deep.equal([]);
    expect(runningInGroup(pgid)).to.deep.equal([]);
    const system = req.log.of('system');
    expect(system).to.have.length(2);
    expect(system[0]).to.match(
      new RegExp(`^execution timeout of 1\\.5s reached after 1\\.[5-9]s; sending SIGTERM to process group ${pgid}$`),
    );
    expect(system[1]).to.match(
      new RegExp(
        `^process group ${pgid} still has [12] process\\(es\\) running 0\\.5s after SIGTERM \\([\\d, ]+\\); sending SIGKILL$`,
      ),
    );
  });

  it('kills the whole process tree when the signal aborts', async () => {
    const controller = new AbortController();
    const req = request({ argv: [SH, `${FIXTURES}/tree.sh`] }, { signal: controller.signal });
    const running = executor.execute(req);
    await req.log.waitFor('ready');
    controller.abort('run cancelled by user');
    const err = await expectFailure(running);
    const pgid = req.heartbeats[0]?.pgid as number;
    leftovers.push(pgid);
    expect(err.kind).to.equal('cancelled');
    expect(err.message).to.match(
      new RegExp(
        `^process cancelled after running \\d+\\.\\ds \\(run cancelled by user\\); process group ${pgid} was killed\\.`,
      ),
    );
    expect(treePids(req.log.of('stdout')).filter(isRunning)).to.deep.equal([]);
    expect(runningInGroup(pgid)).to.deep.equal([]);
    expect(req.log.of('system')[0]).to.match(
      new RegExp(`^cancelled after \\d+\\.\\ds \\(run cancelled by user\\); sending SIGTERM to process group ${pgid}$`),
    );
  });

  it('does not start the process when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const req = request({ argv: [SH, '-c', 'echo started'] }, { signal: controller.signal });
    const err = await expectFailure(executor.execute(req));
    expect([err.kind, err.message]).to.deep.equal(['cancelled', 'process cancelled before it started']);
    expect(req.heartbeats).to.deep.equal([]);
  });

  it("kills a crashed attempt's live orphan group (with grandchildren) before starting afresh", async () => {
    const orphan = await startOrphanTree();
    const pgid = orphan.child.pid as number;
    leftovers.push(pgid);
    const orphanPids = treePids(orphan.lines);
    expect(orphanPids).to.have.length(4);
    expect(runningInGroup(pgid).length).to.be.at.least(5);
    const previousHandle: ExecutorHandle = {
      executor: 'process',
      id: String(pgid),
      pid: pgid,
      pgid,
      startTicks: startTicksOf(pgid),
      host: hostname(),
    };
    expect(isSameProcessAlive(previousHandle)).to.equal(true);

    // The new run reports how many processes of the orphan's group it can still see.
    const count = `ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/' | wc -l`;
    const req = request(
      { argv: [`echo "orphan processes: $(${count})"`, String(pgid)], shell: true },
      { previousHandle, tryNumber: 3 },
    );
    const result = await executor.execute(req);
    expect(result.exitCode).to.equal(0);
    expect(req.log.lines.map((l) => l.stream)).to.deep.equal(['system', 'system', 'system', 'stdout']);
    expect(req.log.lines[0]?.line).to.equal(
      `process group ${pgid} (pid ${pgid}) from the earlier attempt of this try is still running after its worker crashed; sending SIGTERM`,
    );
    expect(req.log.lines[1]?.line).to.match(
      new RegExp(`^process group ${pgid} still has [12] process\\(es\\) running 0\\.5s after SIGTERM`),
    );
    expect(req.log.lines[2]?.line).to.equal(
      `killed orphan process group ${pgid} left by the crashed worker; starting afresh`,
    );
    expect(req.log.lines[3]?.line).to.match(/^orphan processes: +0$/);
    expect(orphanPids.filter(isRunning)).to.deep.equal([]);
    expect(runningInGroup(pgid)).to.deep.equal([]);
    expect(isSameProcessAlive(previousHandle)).to.equal(false);
  });

  it('recognises a leaderless orphan group by its try marker, and only with it', async () => {
    const tryKey = '["dag","manual__2024-01-01","step",-1,1]';
    const script = 'sleep 300 & echo "child $!"; sleep 300 & echo "child $!"; echo ready';
    // The leader exits at once; its two children keep the group alive. One group carries this
    // try's marker, the other carries another try's.
    const startLeaderless = async (marker: string) => {
      const child = spawn(SH, ['-c', script], {
        detached: true,
        stdio: 'ignore',
        env: { ...process.env, UPDRAFT_TRY_KEY: marker },
      });
      const pgid = child.pid as number;
      const handle: ExecutorHandle = {
        executor: 'process',
        id: String(pgid),
        pid: pgid,
        pgid,
        startTicks: startTicksOf(pgid),
        host: hostname(),
      };
      leftovers.push(pgid);
      await new Promise((r) => child.once('exit', r));
      return { pgid, handle };
    };
    const ours = await startLeaderless(tryKey);
    const theirs = await startLeaderless('["dag","manual__2024-01-01","step",-1,2]');
    expect(runningInGroup(ours.pgid)).to.have.length(2);
    expect(isSameProcessAlive(theirs.handle, { envMarker: `UPDRAFT_TRY_KEY=${tryKey}` })).to.equal(false);

    const req = request({ argv: ['/bin/true'] }, { previousHandle: ours.handle });
    await executor.execute(req);
    expect(req.log.of('system')).to.deep.equal([
      `process group ${ours.pgid} (pid ${ours.pgid}) from the earlier attempt of this try is still running after its worker crashed; sending SIGTERM`,
      `killed orphan process group ${ours.pgid} left by the crashed worker; starting afresh`,
    ]);
    expect(runningInGroup(ours.pgid)).to.deep.equal([]);

    const req2 = request({ argv: ['/bin/true'] }, { previousHandle: theirs.handle });
    await executor.execute(req2);
    expect(req2.log.of('system')).to.deep.equal([
      `process group ${theirs.pgid} of the earlier attempt is no longer running; starting afresh`,
    ]);
    expect(runningInGroup(theirs.pgid)).to.have.length(2);
  });

  it('leaves a process alone when its pid was reused (different start time)', async () => {
    const other = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    const pid = other.pid as number;
    leftovers.push(pid);
    const ticks = startTicksOf(pid);
    const previousHandle: ExecutorHandle = {
      executor: 'process',
      id: String(pid),
      pid,
      pgid: pid,
      startTicks: ticks - 5,
      host: hostname(),
    };
    expect(isSameProcessAlive(previousHandle)).to.equal(false);
    const req = request({ argv: ['echo', 'fresh'] }, { previousHandle });
    await executor.execute(req);
    expect(req.log.lines).to.deep.equal([
      {
        stream: 'system',
        line: `pid ${pid} now belongs to another process (start time ${ticks}, expected ${ticks - 5}); leaving it alone; starting afresh`,
      },
      { stream: 'stdout', line: 'fresh' },
    ]);
    expect(isRunning(pid)).to.equal(true);
  });

  it('does not touch a handle from another host', async () => {
    const other = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    const pid = other.pid as number;
    leftovers.push(pid);
    const previousHandle: ExecutorHandle = {
      executor: 'process',
      id: String(pid),
      pid,
      pgid: pid,
      startTicks: startTicksOf(pid),
      host: 'elsewhere',
    };
    expect(isSameProcessAlive(previousHandle)).to.equal(false);
    const req = request({ argv: ['/bin/true'] }, { previousHandle });
    await executor.execute(req);
    expect(req.log.of('system')).to.deep.equal([
      `the earlier attempt ran process group ${pid} on host elsewhere, not on this host (${hostname()}); it cannot be checked or killed from here`,
    ]);
    expect(isRunning(pid)).to.equal(true);
  });
});

describe('LineSplitter', () => {
  it('splits across chunks, decodes split UTF-8, strips \\r and flushes the last line', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('a\r\nb\u00e9', 'utf8');
    splitter.write(bytes.subarray(0, 5)); // cuts é in half
    splitter.write(bytes.subarray(5));
    splitter.write(Buffer.from('\n\nlast'));
    expect(lines).to.deep.equal(['a', 'bé', '']);
    splitter.end();
    expect(lines).to.deep.equal(['a', 'bé', '', 'last']);
  });
});

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis, whatever the command name holds', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    const stat = parseProcStat(`42 (a) b (c) ${fields.join(' ')}\n`);
    expect(stat).to.deep.equal({ pid: 42, state: 'S', ppid: 4, pgrp: 5, startTicks: 22 });
  });
});
