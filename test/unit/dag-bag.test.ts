import path from 'node:path';
import { expect } from 'chai';
import { DagBag } from '../../worker/dag-bag.js';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'dags-mixed');

describe('DagBag', () => {
  let bag: DagBag;
  before(async () => {
    bag = await DagBag.load(FIXTURES);
  });

  it('loads the good DAGs next to broken files, including several DAGs per file and helper imports', () => {
    expect([...bag.dags.keys()].sort()).to.deep.equal(['always_fails', 'good_one', 'good_two_a', 'good_two_b']);
    expect(bag.get('good_one')!.filename).to.equal('good_one.ts');
    expect(bag.get('good_two_a')!.spec.tasks[0]!.process!.argv).to.deep.equal(['echo', 'two']);
  });

  it('runs the functions of loaded DAG files', async () => {
    const fn = bag.get('good_one')!.functions.get('hello')!;
    expect(await fn(undefined, {} as never)).to.equal('hello world');
  });

  it('turns each broken file into an import error that names the problem', () => {
    const byFile = Object.fromEntries(bag.importErrors.map((e) => [e.filename, e.stacktrace]));
    expect(Object.keys(byFile).sort()).to.deep.equal([
      'broken_syntax.ts',
      'duplicate_task.ts',
      'has_cycle.ts',
      'throws.ts',
      'zz_duplicate_dag.ts',
    ]);
    expect(byFile['broken_syntax.ts']).to.match(/broken_syntax\.ts:5:0: error: Expected "\)" but found "}"/);
    expect(byFile['has_cycle.ts']).to.equal('DagDefinitionError: DAG "has_cycle": the graph has a cycle: a -> b -> a');
    expect(byFile['duplicate_task.ts']).to.equal(
      'DagDefinitionError: DAG "duplicate_task", task "same": taskId: duplicate task_id "same" (task ids must be unique within a DAG)',
    );
    expect(byFile['throws.ts']).to.match(/^TypeError: Cannot read properties of undefined \(reading 'name'\)/);
    expect(byFile['throws.ts']).to.contain('throws.ts');
    expect(byFile['zz_duplicate_dag.ts']).to.equal(
      'DagDefinitionError: DAG "good_one" is defined twice: in good_one.ts and in zz_duplicate_dag.ts',
    );
  });

  it('does not treat helper modules as DAG files', () => {
    expect(bag.importErrors.map((e) => e.filename)).to.not.include('lib/helpers.ts');
  });

  it('stops a file whose top-level code never returns (import timeout) and still loads the others', async function () {
    this.timeout(30_000);
    const started = Date.now();
    const slow = await DagBag.load(path.resolve(FIXTURES, '..', 'dags-slow'), { importTimeoutMs: 1500 });
    expect(Date.now() - started).to.be.below(15_000);
    expect([...slow.dags.keys()]).to.deep.equal(['loads_after_a_hang']);
    expect(await slow.get('loads_after_a_hang')!.functions.get('hello')!(undefined, {} as never)).to.equal(
      'still here',
    );
    expect(slow.importErrors).to.deep.equal([
      {
        filename: 'a_never_returns.ts',
        stacktrace:
          "DagBagImportTimeout: the file's top-level code ran for more than 1.5s (dagbag_import_timeout) and was stopped. " +
          'Move slow work (network calls, loops, heavy imports) into tasks, or raise UPDRAFT_DAGBAG_IMPORT_TIMEOUT.',
      },
    ]);
  });

  it('reports a missing folder as an import error instead of throwing', async () => {
    const missing = await DagBag.load('/nonexistent/dags');
    expect(missing.dags.size).to.equal(0);
    expect(missing.importErrors[0]!.stacktrace).to.contain('does not exist');
  });
});
