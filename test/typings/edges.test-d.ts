/**
 * Type-level tests of the authoring API, compiled by `npm run typecheck`. Each `@ts-expect-error`
 * line must fail to compile; if it ever compiles, tsc reports the unused directive and CI fails.
 */
import { dag, type XComArg } from '../../sdk/index.js';

dag({ dagId: 'typings' }, (d) => {
  const extract = d.task({ taskId: 'extract' }, () => ({ rows: 3, name: 'orders' }));
  const count = d.task({ taskId: 'count' }, (x: { rows: number }) => x.rows * 2);
  const label = d.task({ taskId: 'label' }, (s: string) => s.toUpperCase());
  const noInput = d.task({ taskId: 'no_input' }, () => 1);
  const both = d.task({ taskId: 'both' }, (x: { n: number; s: string }) => `${x.s}${x.n}`);

  const e = extract();
  const n: XComArg<number> = count(e); // { rows, name } is assignable to { rows: number }
  label(e.get('name')); // a field reference has the field's type
  both({ n, s: e.get('name') }); // objects may mix references and values
  both({ n: 1, s: 'x' });
  noInput();

  // @ts-expect-error a number output cannot feed a string input
  label(n);
  // @ts-expect-error an object output cannot feed a string input
  label(e);
  // @ts-expect-error unknown field of an upstream output
  e.get('missing');
  // @ts-expect-error a task that takes input must be given one
  count();
  // @ts-expect-error a task without input takes no argument
  noInput(e);
  // @ts-expect-error the wrong type inside an object input
  both({ n: e.get('name'), s: 'x' });
  // @ts-expect-error trigger rules are Airflow's names only
  d.empty({ taskId: 'x', triggerRule: 'sometimes' });
});
