/**
 * scripts/install-temporal.sh (issue 8 item 10): a first build says what it is doing and how long
 * it takes, with a progress line while it runs; the binary is cached per machine, so another clone
 * installs it from the cache without building; a failed build says so.
 *
 * The Go toolchain is stood in for by a script named `go` that takes a few seconds and writes a
 * binary where `go install` would (GOBIN): the real build takes 5-10 minutes and is what every
 * fresh clone's `make demo`/`make test` runs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const FAKE_GO = `#!/usr/bin/env bash
# Stands in for \`go install github.com/temporalio/cli/cmd/temporal@v1.5.1\`.
echo "$*" >> "$FAKE_GO_CALLS"
[ "$1" = install ] && [ "$2" = github.com/temporalio/cli/cmd/temporal@v1.5.1 ] || { echo "unexpected: go $*" >&2; exit 2; }
echo "go: downloading github.com/temporalio/cli v1.5.1" >&2
sleep "$FAKE_GO_SECONDS"
[ "$FAKE_GO_FAIL" = 1 ] && { echo "compile error" >&2; exit 1; }
printf '#!/bin/sh\\necho "temporal version 1.5.1 (test build)"\\n' > "$GOBIN/temporal"
chmod +x "$GOBIN/temporal"
`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A clone: the script copied into a fresh project folder (it finds .tools/ from its own path). */
function newClone(): string {
  const clone = tempDir('clone');
  fs.mkdirSync(path.join(clone, 'scripts'));
  fs.copyFileSync(
    path.join(ROOT, 'scripts', 'install-temporal.sh'),
    path.join(clone, 'scripts', 'install-temporal.sh'),
  );
  return clone;
}

function install(clone: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(clone, 'scripts', 'install-temporal.sh')], { cwd: clone, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('scripts/install-temporal.sh', function () {
  this.timeout(60_000);
  let env: NodeJS.ProcessEnv;
  let calls: string;
  let cache: string;

  before(function () {
    const bin = tempDir('fake-go');
    fs.writeFileSync(path.join(bin, 'go'), FAKE_GO, { mode: 0o755 });
    calls = path.join(bin, 'calls');
    cache = tempDir('cache');
    // No temporal on PATH: only the stand-in go and the system's tools.
    env = {
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: tempDir('home'),
      XDG_CACHE_HOME: cache,
      FAKE_GO_CALLS: calls,
      FAKE_GO_SECONDS: '4',
      FAKE_GO_FAIL: '0',
      UPDRAFT_PROGRESS_INTERVAL_SECONDS: '1',
    };
    for (const dir of ['/usr/bin', '/bin'])
      expect(fs.existsSync(path.join(dir, 'temporal')), `${dir}/temporal exists`).to.equal(false);
  });

  it('builds once with progress lines, caches the binary, and a second clone uses the cache', async function () {
    const first = newClone();
    const built = await install(first, env);
    expect(built.code, built.stderr).to.equal(0);
    expect(built.stdout.trim()).to.equal(path.join(first, '.tools', 'bin', 'temporal'));
    expect(built.stderr).to.contain('[install-temporal] building the temporal CLI v1.5.1 from source with Go');
    expect(built.stderr).to.contain('takes about 5-10 minutes');
    expect(built.stderr).to.contain(`it is cached in ${path.join(cache, 'updraft', 'temporal', 'v1.5.1')}`);
    const progress = built.stderr
      .split('\n')
      .filter((l) => /^\[install-temporal\] still building the temporal CLI v1\.5\.1: 0m0\ds elapsed/.test(l));
    expect(progress.length, built.stderr).to.be.at.least(2);
    expect(fs.readFileSync(calls, 'utf8').trim().split('\n')).to.have.length(1);
    expect(fs.existsSync(path.join(cache, 'updraft', 'temporal', 'v1.5.1', 'temporal'))).to.equal(true);

    const second = newClone();
    const cached = await install(second, env);
    expect(cached.code, cached.stderr).to.equal(0);
    expect(cached.stdout.trim()).to.equal(path.join(second, '.tools', 'bin', 'temporal'));
    expect(cached.stderr).to.contain('using the temporal CLI v1.5.1 built earlier on this machine');
    expect(fs.readFileSync(calls, 'utf8').trim().split('\n'), 'the second clone did not build').to.have.length(1);

    // The installed binary runs, and a re-run is a no-op that prints the same path.
    const version = await new Promise<string>((resolve) => {
      const child = spawn(cached.stdout.trim(), ['--version']);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', () => resolve(out));
    });
    expect(version).to.contain('temporal version 1.5.1');
    const again = await install(second, env);
    expect([again.code, again.stdout.trim(), again.stderr]).to.deep.equal([
      0,
      path.join(second, '.tools', 'bin', 'temporal'),
      '',
    ]);
  });

  it('a failed build says so and caches nothing', async function () {
    const clone = newClone();
    const failed = await install(clone, {
      ...env,
      XDG_CACHE_HOME: tempDir('cache'),
      FAKE_GO_FAIL: '1',
      FAKE_GO_SECONDS: '0',
    });
    expect(failed.code).to.equal(1);
    expect(failed.stderr).to.contain(
      'error: building the temporal CLI v1.5.1 failed (go install exited 1; its output is above)',
    );
    expect(fs.existsSync(path.join(clone, '.tools', 'bin', 'temporal'))).to.equal(false);
  });
});
