/**
 * `updraft dags check`: the TypeScript compiler over the DAGs folder, as a user runs it (no tsc of
 * their own): a mis-typed edge is reported with file:line, a good file passes, a DAG is found by
 * its id in the stored parse result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const GOOD = `import { dag } from 'updraft';

export default dag({ dagId: 'typed_good' }, (d) => {
  const extract = d.task({ taskId: 'extract' }, () => ({ rows: 3 }));
  const count = d.task({ taskId: 'count' }, (x: { rows: number }) => x.rows * 2);
  count(extract());
});
`;

// Line 7: a number output fed to a string input (test/typings/edges.test-d.ts).
const BAD = `import { dag } from 'updraft';

export default dag({ dagId: 'typed_bad' }, (d) => {
  const extract = d.task({ taskId: 'extract' }, () => ({ rows: 3 }));
  const count = d.task({ taskId: 'count' }, (x: { rows: number }) => x.rows * 2);
  const label = d.task({ taskId: 'label' }, (s: string) => s.toUpperCase());
  label(count(extract()));
});
`;

describe('updraft dags check', function () {
  this.timeout(180_000);
  let folder: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    folder = tempDir('check-dags');
    fs.writeFileSync(path.join(folder, 'good.ts'), GOOD);
    fs.writeFileSync(path.join(folder, 'bad_edge.ts'), BAD);
    env = { UPDRAFT_HOME: tempDir('check-home'), UPDRAFT_DAGS_FOLDER: folder, TEMPORAL_ADDRESS: '', DATABASE_URL: '' };
  });
  after(() => {
    fs.rmSync(folder, { recursive: true, force: true });
    fs.rmSync(env.UPDRAFT_HOME!, { recursive: true, force: true });
  });

  it('reports a mis-typed edge with file:line and exits 1; the worker would have loaded it', async () => {
    const r = await runCli(['dags', 'check'], env);
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).to.match(
      /bad_edge\.ts:7:9 - error TS2345: Argument of type 'XComArg<number>' is not assignable to parameter of type 'Bindable<string>'/,
    );
    expect(r.stdout).to.contain("Type 'number' is not assignable to type 'string'.");
    expect(lines.at(-1)).to.equal('1 type error(s) in 1 file(s)');
    const json = await runCli(['dags', 'check', '-o', 'json'], env);
    const problems = JSON.parse(json.stdout) as Array<{ file: string; line: number; code: number }>;
    expect(problems.map((p) => [path.basename(p.file), p.line, p.code])).to.deep.equal([['bad_edge.ts', 7, 2345]]);
  });

  it('checks one file, or the file of one DAG of the stored parse', async () => {
    // esbuild strips types: a parse stores the mis-typed DAG without a word (why the check exists).
    const parsed = await runCli(['dags', 'reserialize'], env);
    expect(parsed.stdout).to.contain('2 DAG(s) stored');
    const good = await runCli(['dags', 'check', path.join(folder, 'good.ts')], env);
    expect(good.code, good.stdout + good.stderr).to.equal(0);
    expect(good.stdout).to.equal(`No type errors in 1 DAG file(s) of ${folder}\n`);
    const byId = await runCli(['dags', 'check', 'typed_bad'], env);
    expect(byId.code).to.equal(1);
    expect(byId.stdout).to.contain('bad_edge.ts:7:9 - error TS2345');
    const unknown = await runCli(['dags', 'check', 'no_such_dag'], env);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain('"no_such_dag" is neither a file nor a DAG of the last parse');
  });
});
