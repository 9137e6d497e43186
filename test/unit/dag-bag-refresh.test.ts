/**
 * The DAG bag as the DAG processor drives it: refreshes notice new, changed (a task's body, a
 * local helper) and removed files and nothing else; a file calling process.exit is an import error
 * at once; stack traces of DAG code point at the .ts lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { DagBag } from '../../worker/dag-bag.js';
import { tempDir } from '../helpers/servers.js';

function write(folder: string, name: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
  fs.writeFileSync(path.join(folder, name), text);
}

const dagFile = (dagId: string, body: string): string =>
  `import { dag } from 'updraft';\nimport { suffix } from './lib/suffix';\n\nexport default dag({ dagId: '${dagId}' }, (d) => {\n  d.task({ taskId: 'hello' }, () => ${body} + suffix);\n});\n`;

describe('DagBag refresh', () => {
  let folder: string;
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('parses again only what changed: new files, function bodies, local helpers, removed files', async () => {
    folder = tempDir('bag-refresh');
    write(folder, 'lib/suffix.ts', "export const suffix = '!';\n");
    write(folder, 'a.ts', dagFile('a', "'v1'"));
    const bag = await DagBag.load(folder);
    expect([...bag.dags.keys()]).to.deep.equal(['a']);
    const first = bag.get('a')!;
    expect(await first.functions.get('hello')!(undefined, {} as never)).to.equal('v1!');

    expect(await bag.refresh({ list: true })).to.deep.equal({ changed: [], removed: [] });
    expect(bag.get('a')).to.equal(first);

    // Only the function body changes: the spec is the same, the code is not.
    write(folder, 'a.ts', dagFile('a', "'v2'"));
    expect(await bag.refresh()).to.deep.equal({ changed: ['a.ts'], removed: [] });
    const second = bag.get('a')!;
    expect(second.spec.hash).to.equal(first.spec.hash);
    expect(second.code.hash).to.not.equal(first.code.hash);
    expect(await second.functions.get('hello')!(undefined, {} as never)).to.equal('v2!');

    // A local module the file imports is part of its code.
    write(folder, 'lib/suffix.ts', "export const suffix = '?';\n");
    expect(await bag.refresh()).to.deep.equal({ changed: ['a.ts'], removed: [] });
    expect(await bag.get('a')!.functions.get('hello')!(undefined, {} as never)).to.equal('v2?');

    // New files are found by a listing refresh, not by re-bundling the known ones.
    write(folder, 'b.ts', dagFile('b', "'b'"));
    expect(await bag.refresh()).to.deep.equal({ changed: [], removed: [] });
    expect(await bag.refresh({ list: true })).to.deep.equal({ changed: ['b.ts'], removed: [] });
    expect([...bag.dags.keys()].sort()).to.deep.equal(['a', 'b']);

    fs.rmSync(path.join(folder, 'a.ts'));
    expect(await bag.refresh()).to.deep.equal({ changed: [], removed: ['a.ts'] });
    expect([...bag.dags.keys()]).to.deep.equal(['b']);

    // A file that breaks keeps the other files' DAGs and becomes an import error; fixing it clears it.
    write(folder, 'b.ts', "import { dag } from 'updraft';\nexport default dag({ dagId: 'b' }, (d) => {\n");
    await bag.refresh();
    expect(bag.dags.size).to.equal(0);
    expect(bag.importErrors.map((e) => e.filename)).to.deep.equal(['b.ts']);
    write(folder, 'b.ts', dagFile('b', "'b'"));
    await bag.refresh();
    expect(bag.importErrors).to.deep.equal([]);
    expect([...bag.dags.keys()]).to.deep.equal(['b']);
  });

  it('a DAGs folder that goes away and comes back is an import error, then its files again', async () => {
    const gone = path.join(tempDir('bag-gone'), 'dags');
    const bag = await DagBag.load(gone);
    expect(bag.importErrors.map((e) => e.filename)).to.deep.equal(['.']);
    expect(await bag.refresh()).to.deep.equal({ changed: [], removed: [] });
    write(gone, 'lib/suffix.ts', "export const suffix = '';\n");
    write(gone, 'c.ts', dagFile('c', "'c'"));
    expect(await bag.refresh()).to.deep.equal({ changed: ['c.ts'], removed: ['.'] });
    expect(bag.importErrors).to.deep.equal([]);
    fs.rmSync(path.dirname(gone), { recursive: true, force: true });
    expect(await bag.refresh()).to.deep.equal({ changed: ['.'], removed: ['c.ts'] });
    expect(bag.dags.size).to.equal(0);
  });

  it('the same file bundles to the same code from any working directory', async () => {
    const other = await DagBag.load(folder);
    const cwd = process.cwd();
    process.chdir(path.dirname(folder));
    try {
      const again = await DagBag.load(path.relative(process.cwd(), folder));
      expect(again.get('b')!.code.hash).to.equal(other.get('b')!.code.hash);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('DagBag: process.exit and source maps', () => {
  let folder: string;
  let bag: DagBag;
  before(async () => {
    folder = tempDir('bag-exit');
    write(
      folder,
      'exits.ts',
      "import { dag } from 'updraft';\n\nif (!process.env.NEVER_SET_HERE) process.exit(1);\n\nexport default dag({ dagId: 'exits' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
    write(
      folder,
      'exits_later.ts',
      "import { dag } from 'updraft';\nsetTimeout(() => process.exit(3), 0);\nwhile (Date.now() < 0) { /* */ }\nexport default dag({ dagId: 'exits_later' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
    write(
      folder,
      'throws_at_line_6.ts',
      [
        "import { dag } from 'updraft';",
        '',
        'type Row = { id: number };',
        'const rows: Row[] = [];',
        '// the next line throws',
        "if (rows.length === 0) throw new Error('no rows at import');",
        "export default dag({ dagId: 'never' }, (d) => { d.empty({ taskId: 'x' }); });",
      ].join('\n'),
    );
    write(
      folder,
      'task_throws.ts',
      [
        "import { dag } from 'updraft';",
        '',
        'interface Input { n: number }',
        '',
        "export default dag({ dagId: 'task_throws' }, (d) => {",
        "  d.task({ taskId: 'boom' }, (x: Input | undefined) => {",
        '    const n: number = x?.n ?? 0;',
        '    throw new Error(`boom ${n}`);',
        '  });',
        '});',
      ].join('\n'),
    );
    write(
      folder,
      'z_fine.ts',
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'fine' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
  });
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('reports a top-level process.exit as an import error at once, naming the line, and loads the other files', async () => {
    const started = Date.now();
    bag = await DagBag.load(folder, { importTimeoutMs: 20_000 });
    expect(Date.now() - started).to.be.below(10_000);
    const byFile = Object.fromEntries(bag.importErrors.map((e) => [e.filename, e.stacktrace]));
    expect(byFile['exits.ts']).to.match(/^DagFileExitError: the DAG file called process\.exit\(1\) at top level/);
    expect(byFile['exits.ts']).to.contain(`${path.join(folder, 'exits.ts')}:3:`);
    expect(byFile['exits_later.ts']).to.match(
      /^DagFileExitError: the DAG file ended its loader thread \(process\.exit\(3\)\)/,
    );
    expect([...bag.dags.keys()].sort()).to.deep.equal(['fine', 'task_throws']);
    expect(process.exitCode ?? 0).to.equal(0);
  });

  it('points the stack of an import error at the .ts line', () => {
    const trace = bag.importErrors.find((e) => e.filename === 'throws_at_line_6.ts')!.stacktrace;
    expect(trace).to.match(/^Error: no rows at import/);
    expect(trace.split('\n')[1]).to.contain(`${path.join(folder, 'throws_at_line_6.ts')}:6:`);
  });

  it('points the stack of an error a task function throws at the .ts line', async () => {
    const fn = bag.get('task_throws')!.functions.get('boom')!;
    const err = await Promise.resolve()
      .then(() => fn({ n: 7 }, {} as never))
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(err?.message).to.equal('boom 7');
    expect(err!.stack!.split('\n')[1]).to.contain(`${path.join(folder, 'task_throws.ts')}:8:`);
  });
});
