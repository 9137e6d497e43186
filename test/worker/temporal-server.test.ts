/**
 * The embedded Temporal dev server's lifecycle with the real `temporal` CLI: a server whose
 * starter is killed dies with it, or is stopped by the next start on the same state file (only if
 * it is really that server); and a stack never takes another process's server on its port for its
 * own (issue 8: `dags test` connected to the server of whoever took port 7233 first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { isAlive, listensOn, processStartTime } from '../../worker/processes.js';
import {
  TemporalPortInUseError,
  TemporalServerStartError,
  freePort,
  isPortFree,
  reapLeftover,
  startDevServer,
  type DevServer,
} from '../../worker/temporal-server.js';
import { rejectionOf } from '../db/test-database.js';
import { tempDir } from '../helpers/servers.js';

const CHILD = path.resolve(__dirname, 'fixtures', 'dev-server-child.js');

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs dev-server-child; resolves with it and the server's pid once it serves. */
async function startChild(
  port: number,
  stateFile: string,
  logFile: string,
  mode: 'die-with-parent' | 'outlive-parent',
): Promise<{ child: ChildProcess; serverPid: number }> {
  const child = spawn(process.execPath, [CHILD, String(port), stateFile, logFile, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    `dev-server-child to serve (output: ${out})`,
    () => {
      if (child.exitCode !== null) throw new Error(`dev-server-child exited: ${out}`);
      return /ready \d+/.test(out);
    },
    60_000,
  );
  return { child, serverPid: Number(/ready (\d+)/.exec(out)![1]) };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('worker/temporal-server: a stack knows its own server', function () {
  this.timeout(120_000);
  let dir: string;
  const toKill: number[] = [];
  const toStop: DevServer[] = [];

  beforeEach(() => {
    dir = tempDir('temporal-server');
  });

  afterEach(async () => {
    for (const s of toStop.splice(0)) await s.stop();
    for (const pid of toKill.splice(0)) killQuietly(pid);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops the server a SIGKILLed starter left running, then starts its own on that port', async () => {
    const port = await freePort();
    const stateFile = path.join(dir, 'temporal-server.json');
    const { child, serverPid } = await startChild(port, stateFile, path.join(dir, 'first.log'), 'outlive-parent');
    toKill.push(serverPid);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    expect(isAlive(serverPid), 'the leftover server outlives its starter').to.equal(true);
    expect(await isPortFree(port)).to.equal(false);

    const lines: string[] = [];
    const server = await startDevServer({
      port,
      uiPort: null,
      dbFile: null,
      stateFile,
      logFile: path.join(dir, 'second.log'),
      log: (l) => lines.push(l),
    });
    toStop.push(server);
    expect(lines).to.deep.equal([
      `stopping the Temporal dev server (pid ${serverPid}, port ${port}) left running by an earlier process (pid ${child.pid}) that did not stop it`,
    ]);
    expect(isAlive(serverPid)).to.equal(false);
    expect(listensOn(server.process.pid!, port)).to.equal(true);
    const record = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pid: number; ownerPid: number };
    expect([record.pid, record.ownerPid]).to.deep.equal([server.process.pid, process.pid]);
    await server.stop();
    toStop.splice(0);
    expect(fs.existsSync(stateFile), 'a clean stop forgets the record').to.equal(false);
  });

  it('ties the server to its starter: SIGKILL of the starter stops the server too (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const port = await freePort();
    const { child, serverPid } = await startChild(
      port,
      path.join(dir, 'state.json'),
      path.join(dir, 'server.log'),
      'die-with-parent',
    );
    toKill.push(serverPid);
    child.kill('SIGKILL');
    await waitFor(`server pid ${serverPid} to exit after its starter was killed`, () => !isAlive(serverPid), 15_000);
    await waitFor(`port ${port} to be free`, () => isPortFree(port));
  });

  it('never stops a process that is not the recorded server (pid reused, or not a temporal server)', async () => {
    const sleeper = spawn('sleep', ['60']);
    toKill.push(sleeper.pid!);
    const stateFile = path.join(dir, 'state.json');
    const startTime = processStartTime(sleeper.pid!)!;
    for (const record of [
      {
        pid: sleeper.pid,
        startTime: `${startTime}0`,
        port: 1,
        uiPort: null,
        dbFile: null,
        ownerPid: 999_999,
        ownerStartTime: null,
      }, // pid reused
      { pid: sleeper.pid, startTime, port: 1, uiPort: null, dbFile: null, ownerPid: 999_999, ownerStartTime: null }, // not start-dev
    ]) {
      fs.writeFileSync(stateFile, JSON.stringify(record));
      await reapLeftover(stateFile, () => undefined);
      expect(isAlive(sleeper.pid!)).to.equal(true);
      expect(fs.existsSync(stateFile), 'a stale record is forgotten').to.equal(false);
    }
  });

  it('refuses to stop a server whose starter is still running', async () => {
    const port = await freePort();
    const stateFile = path.join(dir, 'state.json');
    const server = await startDevServer({
      port,
      uiPort: null,
      dbFile: null,
      stateFile,
      logFile: path.join(dir, 'server.log'),
    });
    toStop.push(server);
    const owner = spawn('sleep', ['60']);
    toKill.push(owner.pid!);
    const record = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      stateFile,
      JSON.stringify({ ...record, ownerPid: owner.pid, ownerStartTime: processStartTime(owner.pid!) }),
    );
    const err = await rejectionOf(startDevServer({ port: await freePort(), uiPort: null, dbFile: null, stateFile }));
    expect(err).to.be.instanceOf(TemporalServerStartError);
    expect(err.message).to.equal(
      `the Temporal dev server recorded in ${stateFile} (pid ${server.process.pid}) belongs to a running process (pid ${owner.pid}); stop that first`,
    );
    expect(isAlive(server.process.pid!)).to.equal(true);
  });

  it('says who holds a taken port instead of starting', async () => {
    const port = await freePort();
    const holder = spawn(process.execPath, [
      '-e',
      "require('net').createServer().listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))",
      String(port),
    ]);
    toKill.push(holder.pid!);
    await new Promise((r) => holder.stdout!.once('data', r));
    const err = await rejectionOf(
      startDevServer({ port, uiPort: null, dbFile: null, portHint: 'set UPDRAFT_DEV_TEMPORAL_PORT' }),
    );
    expect(err).to.be.instanceOf(TemporalPortInUseError);
    expect(err.message).to.match(
      new RegExp(
        `^port ${port} \\(Temporal\\) is in use by pid ${holder.pid} \\(.*node -e .*\\); set UPDRAFT_DEV_TEMPORAL_PORT$`,
      ),
    );
  });

  it('two stacks starting on the same port at once: one gets its own server, the other a clear error, never the other’s server', async () => {
    const port = await freePort();
    const start = (name: string): Promise<DevServer> =>
      startDevServer({ port, uiPort: null, dbFile: null, logFile: path.join(dir, `${name}.log`) });
    const first = start('first');
    // The second checks the port after the first's check and before its child binds (it takes ~0.5 s).
    await new Promise((r) => setTimeout(r, 50));
    const results = await Promise.allSettled([first, start('second')]);
    const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    toStop.push(...started);
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(started.length, 'exactly one server starts').to.equal(1);
    expect(listensOn(started[0]!.process.pid!, port), 'the one that started is the one listening').to.equal(true);
    expect(errors[0]).to.be.instanceOf(TemporalPortInUseError);
    expect(errors[0]!.message).to.contain(`pid ${started[0]!.process.pid}`);
  });
});
