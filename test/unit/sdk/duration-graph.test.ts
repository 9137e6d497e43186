import { expect } from 'chai';
import { compileDag } from '../../../sdk/compile.js';
import { dag } from '../../../sdk/dag.js';
import { toSeconds } from '../../../sdk/duration.js';
import { topologicalOrder } from '../../../sdk/graph.js';
import { renderDot, renderMermaid, renderText } from '../../../sdk/graph-render.js';

describe('durations', () => {
  const cases: Array<[number | string, number]> = [
    [0, 0],
    [90, 90],
    ['30s', 30],
    ['5m', 300],
    ['5 minutes', 300],
    ['2h', 7200],
    ['1.5h', 5400],
    ['1 day', 86400],
    ['500ms', 0.5],
    ['10', 10],
    ['1w', 604800],
  ];
  for (const [input, seconds] of cases) {
    it(`${JSON.stringify(input)} is ${seconds}s`, () => expect(toSeconds(input)).to.equal(seconds));
  }
});

describe('topologicalOrder', () => {
  it('handles a 10,000-task chain without recursion', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `t${String(i).padStart(5, '0')}`);
    const ups = new Map(ids.map((id, i) => [id, i === 0 ? [] : [ids[i - 1]!]]));
    const r = topologicalOrder(ids, ups);
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.order[9999]).to.equal('t09999');
  });
  it('reports a cycle as a closed path', () => {
    const r = topologicalOrder(
      ['a', 'b', 'c'],
      new Map([
        ['a', ['c']],
        ['b', ['a']],
        ['c', ['b']],
      ]),
    );
    expect(r).to.deep.equal({ ok: false, cycle: ['a', 'b', 'c', 'a'] });
  });
});

describe('graph rendering', () => {
  const { spec } = compileDag(
    dag({ dagId: 'g' }, (d) => {
      const a = d.empty({ taskId: 'a' });
      const b = d.empty({ taskId: 'b', triggerRule: 'all_done' });
      d.chain(a, b);
    }),
    'g.ts',
  );
  it('renders text with upstreams and non-default rules', () => {
    expect(renderText(spec)).to.equal(
      'DAG g (2 tasks)\n  a    (EmptyOperator)\n    b    (EmptyOperator) [all_done]  <- a',
    );
  });
  it('renders DOT and Mermaid edges', () => {
    expect(renderDot(spec)).to.contain('"a" -> "b";');
    expect(renderMermaid(spec)).to.contain('n0 --> n1');
  });
});
