/// <reference types="mocha" />
/**
 * Secrets in task output (issue 8 item 8):
 * - console output of in-process functions is captured per try into the task log, masked, and
 *   attributed to the right try when tries run concurrently in one worker (AsyncLocalStorage);
 * - output after a try ended goes to the worker's stream, masked and labelled;
 * - end to end through the CLI (`updraft dags test`, the worker in the CLI process): a function
 *   that prints a secret Variable leaves it masked in the task log and nowhere in the worker's output;
 * - a program and a container that write a secret as invalid return.json: neither the task log,
 *   the task instance nor the workflow's Temporal history (fetched with the client) has any of it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { expect } from 'chai';
import { captureConsole } from '../../activities/executors/console-capture.js';
import type { LogStream, TaskLogSink } from '../../activities/executors/types.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { FERNET_KEY_ENV } from '../../secrets/encryption.js';
import { setVariable } from '../../secrets/store.js';
import { freePort } from '../../worker/temporal-server.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { runDag } from '../workflows/helpers.js';

const DAGS = path.join(ROOT, 'test', 'fixtures', 'dags-secrets');

class MemorySink implements TaskLogSink {
  readonly lines: Array<[LogStream, string]> = [];
  constructor(private readonly secret = '') {}
  write(stream: LogStream, line: string): void {
    this.lines.push([stream, this.redact(line)]);
  }
  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l[1]);
  }
  redact(text: string): string {
    return this.secret ? text.split(this.secret).join('***') : text;
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every substring of `secret` this long; none may appear where the secret must not. */
function pieces(secret: string, length = 6): string[] {
  return Array.from({ length: secret.length - length + 1 }, (_, i) => secret.slice(i, i + length));
}

describe('console capture of in-process tasks', function () {
  it('gives each concurrent try its own lines, whole, from console.* and stream writes', async function () {
    const sinks = [0, 1, 2, 3].map(() => new MemorySink());
    await Promise.all(
      sinks.map((sink, n) =>
        captureConsole(sink, `t${n}`, async () => {
          for (let k = 0; k < 3; k++) {
            console.log(`try ${n} line ${k}`);
            await pause(5 + ((n * 3 + k) % 4) * 3);
            // Nested async work (timers, promise chains) keeps its try.
            await new Promise<void>((resolve) =>
              setTimeout(() => {
                console.error(`try ${n} err ${k}`);
                resolve();
              }, 2),
            );
          }
          process.stdout.write(`try ${n} par`);
          await pause(3);
          process.stdout.write(Buffer.from(`tial\ntry ${n} tail`));
        }),
      ),
    );
    sinks.forEach((sink, n) => {
      expect(sink.lines).to.deep.equal([
        ['stdout', `try ${n} line 0`],
        ['stderr', `try ${n} err 0`],
        ['stdout', `try ${n} line 1`],
        ['stderr', `try ${n} err 1`],
        ['stdout', `try ${n} line 2`],
        ['stderr', `try ${n} err 2`],
        ['stdout', `try ${n} partial`],
        ['stdout', `try ${n} tail`],
      ]);
    });
  });

  it('sends output made after the try ended to the worker, masked and labelled', async function () {
    // A separate process: its stdout is "the worker's terminal".
    const script = `
      const { captureConsole } = require(${JSON.stringify(path.join(ROOT, 'dist', 'activities', 'executors', 'console-capture.js'))});
      const secret = 'late-secret-value-123';
      const sink = { lines: [], write(s, l) { this.lines.push(l); }, tail() { return []; }, redact: (t) => t.split(secret).join('***') };
      captureConsole(sink, 'dag/run/task#1', async () => {
        setTimeout(() => console.log('still running with ' + secret), 50);
        console.log('during the try: ' + secret);
      }).then(() => setTimeout(() => { console.log('outside any try'); process.stderr.write(JSON.stringify(sink.lines)); }, 100));`;
    const child = spawn(process.execPath, ['-e', script]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).to.equal(0);
    expect(stdout).to.equal('[dag/run/task#1, after its try ended] still running with ***\noutside any try\n');
    expect(JSON.parse(stderr)).to.deep.equal(['during the try: late-secret-value-123']);
  });

  describe('end to end: updraft dags test (the worker runs in the CLI process)', function () {
    this.timeout(360_000);
    const secret = `zq${randomBytes(10).toString('hex')}`;
    let env: NodeJS.ProcessEnv;

    before(async function () {
      env = {
        UPDRAFT_HOME: tempDir('capture-home'),
        UPDRAFT_DAGS_FOLDER: DAGS,
        UPDRAFT_DEV_TEMPORAL_PORT: String(await freePort()),
        UPDRAFT_DEV_UI_PORT: String(await freePort()),
        [FERNET_KEY_ENV]: randomBytes(32).toString('base64'),
        TEMPORAL_ADDRESS: '',
        DATABASE_URL: '',
      };
      const set = await runCli(['variables', 'set', 'api_secret', secret], env);
      expect(set.code, set.stderr).to.equal(0);
    });

    it('the secret is masked in the task log and absent from the worker output; concurrent instances keep their lines', async function () {
      const r = await runCli(['dags', 'test', 'secret_console'], env, 240_000);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const workerOutput = r.stdout + r.stderr;
      for (const piece of pieces(secret)) expect(workerOutput).to.not.contain(piece);
      expect(workerOutput).to.not.contain('calling the API').and.not.contain('instance 3 line');

      const logs = await runCli(['tasks', 'logs', 'secret_console', runIdOf(r.stdout), 'use_key'], env);
      expect(logs.code, logs.stderr).to.equal(0);
      const body = logs.stdout.split('\n').map((l) => l.replace(/^\[[^\]]+\] /, ''));
      for (const piece of pieces(secret)) expect(logs.stdout).to.not.contain(piece);
      for (const line of [
        'calling the API with key ***',
        'info line',
        'debug line',
        '{stderr} warn: key *** expires soon',
        '{stderr} error line',
        'partial write with ***',
        'and an unterminated tail',
      ])
        expect(body).to.include(line);

      for (let n = 0; n < 6; n++) {
        const own = await runCli(
          ['tasks', 'logs', 'secret_console', runIdOf(r.stdout), 'chatty', '-m', String(n)],
          env,
        );
        const printed = own.stdout
          .split('\n')
          .filter((l) => / instance \d line \d$/.test(l))
          .map((l) => l.replace(/^.* instance/, 'instance'));
        expect(printed).to.deep.equal([0, 1, 2, 3].map((k) => `instance ${n} line ${k}`));
      }
    });
  });

  describe('end to end: a secret written as invalid return.json (Temporal + PGlite + dockerd)', function () {
    this.timeout(240_000);
    let stack: TestStack;
    const savedKey = process.env[FERNET_KEY_ENV];
    const secret = `zr${randomBytes(10).toString('hex')}`;

    before(async function () {
      process.env[FERNET_KEY_ENV] = randomBytes(32).toString('base64');
      stack = await startTestStack({ dagsFolder: DAGS });
      expect(stack.bag.importErrors).to.deep.equal([]);
      await setVariable(stack.database.db, 'api_secret', secret);
    });
    after(async function () {
      await stack?.stop();
      if (savedKey === undefined) delete process.env[FERNET_KEY_ENV];
      else process.env[FERNET_KEY_ENV] = savedKey;
    });

    it('neither the task log, the task instance nor the workflow history holds any of it', async function () {
      const run = await runDag(stack, 'secret_return');
      expect(run.run.state).to.equal('failed');
      const expected: Record<string, string> = {
        process_return: `is not valid JSON (${secret.length} bytes): unexpected token`,
        docker_return: `/updraft/xcom/return.json is not valid JSON (${secret.length} bytes): unexpected token`,
      };
      for (const [taskId, message] of Object.entries(expected)) {
        const ti = run.tis.get(taskId)!;
        expect(ti.state).to.equal('failed');
        expect(ti.error).to.contain(message);
        const log = (
          await readTaskLog(stack.database.db, {
            dag_id: 'secret_return',
            run_id: run.triggered.runId,
            task_id: taskId,
            map_index: -1,
            try_number: 1,
          })
        )
          .map((l) => l.line)
          .join('\n');
        expect(log).to.contain(message);
        for (const piece of pieces(secret)) {
          expect(log, `${taskId}'s log`).to.not.contain(piece);
          expect(ti.error, `${taskId}'s error`).to.not.contain(piece);
        }
      }
      const history = historyText(await stack.client.workflow.getHandle(run.triggered.workflowId).fetchHistory());
      expect(history).to.contain('is not valid JSON');
      for (const piece of pieces(secret)) expect(history, 'the workflow history').to.not.contain(piece);
    });
  });
});

function runIdOf(stdout: string): string {
  const m = /updraft tasks logs secret_console (\S+) <task_id>/.exec(stdout);
  if (!m) throw new Error(`no run id in the dags test output:\n${stdout}`);
  return m[1]!;
}

/** Every string in a history, payloads (JSON bytes) decoded, so a search sees what Temporal stores. */
function historyText(value: unknown, out: string[] = []): string {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) historyText(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) historyText(v, out);
  return out.join('\n');
}
