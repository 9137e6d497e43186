/// <reference types="mocha" />
/**
 * The ML step programs (steps/) are Python and R; their own suites (pytest, an Rscript test) run
 * here so that `make test` covers them. The venv comes from steps/setup-venv.sh — the same script a
 * fresh machine runs — which builds it once (about a minute or more: wheels from PyPI) and then
 * answers from its cache; it installs Debian's R when missing and running as root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

// Compiled to dist/test/steps/; the programs stay in the source tree.
const ROOT = resolve(__dirname, '../../..');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The counts of a runner's closing line: pytest's "105 passed in 60.42s" or "14 passed, 0 failed". */
function counts(output: string): { passed: number; failed: number } {
  const passed = /(\d+) passed/.exec(output);
  const failed = /(\d+) failed/.exec(output);
  return { passed: passed ? Number(passed[1]) : 0, failed: failed ? Number(failed[1]) : 0 };
}

describe('ML step programs (steps/: Python and R suites)', function () {
  let python = '';

  before(async function () {
    this.timeout(25 * 60_000);
    const setup = await run('bash', [join(ROOT, 'steps/setup-venv.sh')], ROOT, 25 * 60_000);
    expect(setup.code, `steps/setup-venv.sh failed:\n${setup.stderr}`).to.equal(0);
    const venv = setup.stdout.trim().split('\n').pop() ?? '';
    python = join(venv, 'bin/python');
  });

  it('pytest: the helper library and every Python step end to end (and validate_data.R through the protocol)', async function () {
    this.timeout(15 * 60_000);
    const out = await run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], join(ROOT, 'steps/python'), 15 * 60_000);
    const result = counts(out.stdout);
    expect(out.code, `pytest failed:\n${out.stdout.slice(-8000)}\n${out.stderr.slice(-2000)}`).to.equal(0);
    expect(result.failed).to.equal(0);
    expect(result.passed, 'pytest ran the suite').to.be.greaterThan(100);
  });

  it('Rscript: validate_data.R and the R protocol helper', async function () {
    this.timeout(10 * 60_000);
    const out = await run('Rscript', [join(ROOT, 'steps/r/tests/test_validate_data.R')], ROOT, 10 * 60_000);
    const result = counts(out.stdout);
    expect(out.code, `the R tests failed:\n${out.stdout.slice(-6000)}\n${out.stderr.slice(-2000)}`).to.equal(0);
    expect(result.failed).to.equal(0);
    expect(result.passed, 'the R suite ran').to.be.at.least(14);
  });
});
