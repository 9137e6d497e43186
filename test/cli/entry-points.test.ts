/**
 * Every documented way of starting the CLI runs it (issue 8 item 2): `node bin/updraft.js`,
 * `npx updraft` and `npm exec` in the repository, `npm link` then `updraft`, and `npm install -g`
 * of the repository path and of a packed tarball, each into a temporary prefix
 * (npm_config_prefix) so nothing global changes. Before the fix all but the first printed
 * nothing and exited 0: the CLI only ran when argv[1] ended in "updraft.js".
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { BIN, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: {
        ...process.env,
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        npm_config_audit: 'false',
        ...opts.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** What a started CLI must do: print its version and a command's output, exit 0. */
function expectRuns(r: Result, how: string): void {
  expect(r.code, `${how}: ${r.stderr}`).to.equal(0);
  expect(r.stdout.trim(), `${how} printed nothing (the CLI did not run)`).to.equal(VERSION);
}

describe('every documented way of starting the CLI runs it', function () {
  this.timeout(240_000);
  const elsewhere = tempDir('cli-entry-cwd');
  // A global install of the tarball is ~400 MB of dependencies: remove every prefix afterwards.
  const made: string[] = [elsewhere];
  const dir = (prefix: string): string => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
  after(function () {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('node bin/updraft.js', async function () {
    expectRuns(await run(process.execPath, [BIN, '--version'], { cwd: elsewhere }), 'node bin/updraft.js');
  });

  it('node dist/cli/main.js', async function () {
    expectRuns(
      await run(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), '--version'], { cwd: elsewhere }),
      'node dist/cli/main.js',
    );
  });

  it('npx updraft and npm exec in the repository (never fetching a package)', async function () {
    // npm_config_yes=false: never install a registry package named updraft instead.
    const env = { npm_config_yes: 'false' };
    expectRuns(await run('npx', ['updraft', '--version'], { cwd: ROOT, env }), 'npx updraft');
    expectRuns(await run('npm', ['exec', '--', 'updraft', '--version'], { cwd: ROOT, env }), 'npm exec updraft');
    // A command with real output, not only --version.
    const help = await run('npx', ['updraft', 'dags', '--help'], { cwd: ROOT, env });
    expect(help.code, help.stderr).to.equal(0);
    expect(help.stdout).to.contain('trigger').and.contain('list-runs');
  });

  it('npm link, then updraft from any directory', async function () {
    const prefix = dir('cli-entry-link');
    const env = { npm_config_prefix: prefix };
    const link = await run('npm', ['link', '--offline'], { cwd: ROOT, env });
    expect(link.code, link.stderr).to.equal(0);
    const bin = path.join(prefix, 'bin', 'updraft');
    expect(fs.lstatSync(bin).isSymbolicLink(), `${bin} is not the link npm makes`).to.equal(true);
    expectRuns(await run(bin, ['--version'], { cwd: elsewhere }), 'updraft after npm link');
    expectRuns(
      await run('updraft', ['--version'], {
        cwd: elsewhere,
        env: { PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}` },
      }),
      'updraft on PATH after npm link',
    );
  });

  it('npm install -g <repository path>', async function () {
    const prefix = dir('cli-entry-path');
    const install = await run('npm', ['install', '-g', ROOT, '--offline'], {
      cwd: elsewhere,
      env: { npm_config_prefix: prefix },
    });
    expect(install.code, install.stderr).to.equal(0);
    expectRuns(
      await run(path.join(prefix, 'bin', 'updraft'), ['--version'], { cwd: elsewhere }),
      'updraft after npm install -g <path>',
    );
  });

  it('npm install -g <packed tarball>, then a command that needs the database', async function () {
    const packDir = dir('cli-entry-pack');
    const pack = await run('npm', ['pack', '--pack-destination', packDir, '--silent'], { cwd: ROOT });
    expect(pack.code, pack.stderr).to.equal(0);
    const tarball = path.join(packDir, pack.stdout.trim().split('\n').pop()!);
    const prefix = dir('cli-entry-tgz');
    // The tarball's dependencies come from npm's cache where it has them; a real install fetches
    // the registry's metadata, which is the only step here that needs the network.
    const install = await run('npm', ['install', '-g', tarball, '--prefer-offline'], {
      cwd: elsewhere,
      env: { npm_config_prefix: prefix },
      timeoutMs: 180_000,
    });
    if (
      install.code !== 0 &&
      /ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED|ENOTCACHED|ETIMEDOUT/.test(install.stderr)
    ) {
      // Not a defect of the CLI: this machine cannot reach the npm registry.
      console.warn(
        `skipping: npm install -g <tarball> needs the npm registry: ${install.stderr.split('\n').find((l) => /E[A-Z]+/.test(l))}`,
      );
      this.skip();
    }
    expect(install.code, install.stderr).to.equal(0);
    const bin = path.join(prefix, 'bin', 'updraft');
    expect(fs.realpathSync(bin).startsWith(path.join(prefix, 'lib', 'node_modules', 'updraft'))).to.equal(true);
    expectRuns(await run(bin, ['--version'], { cwd: elsewhere }), 'updraft after npm install -g <tarball>');
    const home = dir('cli-entry-home');
    const env = {
      UPDRAFT_HOME: home,
      UPDRAFT_DAGS_FOLDER: path.join(ROOT, 'test', 'fixtures', 'dags-mixed'),
      DATABASE_URL: '',
      TEMPORAL_ADDRESS: '',
    };
    // reserialize imports the DAG files through the installed package's SDK; list reads what it stored.
    const parse = await run(bin, ['dags', 'reserialize'], { cwd: elsewhere, timeoutMs: 120_000, env });
    expect(parse.code, parse.stderr).to.equal(0); // the folder's broken files are import errors, not a failure
    const list = await run(bin, ['dags', 'list', '-o', 'json'], { cwd: elsewhere, timeoutMs: 120_000, env });
    expect(list.code, list.stderr).to.equal(0);
    expect((JSON.parse(list.stdout) as Array<{ dag_id: string }>).map((d) => d.dag_id)).to.include('good_one');
  });
});
