import { expect } from 'chai';
import { checkParam, validateRunParams } from '../../client/params.js';
import { compileDag } from '../../sdk/compile.js';
import { dag } from '../../sdk/dag.js';
import { DagDefinitionError } from '../../sdk/errors.js';
import { Param, extractParams, isParam, param } from '../../sdk/params.js';
import { mergeParams, paramValues } from '../../engine/params.js';
import type { ParamSchema } from '../../spec/dag-spec.js';
import type { DagSpec, Json } from '../../spec/dag-spec.js';

const failWith = (message: string, field: string): never => {
  throw new Error(`${field}: ${message}`);
};

function problemsFor(schema: ParamSchema, value: Json, source: 'conf' | 'params' = 'conf'): string[] {
  return checkParam({ name: 'x', value, source, spec: { schema, description: null }, specOwner: undefined });
}

describe('params: param() and extraction', function () {
  it('param() records default, schema and description; isParam matches by brand', function () {
    const p = param(3, { type: 'integer', minimum: 1, description: 'how many' });
    expect(p).to.be.instanceOf(Param);
    expect(p.hasDefault).to.equal(true);
    expect(p.value).to.equal(3);
    expect(p.schema).to.deep.equal({ type: 'integer', minimum: 1 });
    expect(p.description).to.equal('how many');
    expect(isParam(p)).to.equal(true);
    expect(isParam({ kind: 'updraft.param' })).to.equal(true);
    expect(isParam({ type: 'integer' })).to.equal(false);
    expect(new Param(undefined, { type: 'string' }).hasDefault).to.equal(false);
    expect(param(null).hasDefault).to.equal(true);
  });

  it('splits values and specs: plain values have no spec, a param without default has no value', function () {
    const out = extractParams(
      {
        plain: { nested: [1, 2] },
        bare: param(7),
        typed: param('a', { type: 'string' }),
        required: new Param(undefined, { type: 'integer' }),
        described: param(1, { description: 'd' }),
      },
      'params',
      failWith,
    );
    expect(out.values).to.deep.equal({ plain: { nested: [1, 2] }, bare: 7, typed: 'a', described: 1 });
    expect(out.specs).to.deep.equal({
      typed: { schema: { type: 'string' }, description: null },
      required: { schema: { type: 'integer' }, description: null },
      described: { schema: {}, description: 'd' },
    });
  });

  const badSchemas: Array<[string, ParamSchema, string]> = [
    [
      'unknown keyword',
      { type: 'string', minimun: 1 } as ParamSchema,
      'params.p: unknown schema keyword "minimun" (supported: type, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength, minItems, maxItems, pattern, format, items, uniqueItems, properties, required, additionalProperties, title, description, examples)',
    ],
    [
      'unknown type',
      { type: 'int' as 'integer' },
      'params.p.type: unknown type "int" (expected one of string, number, integer, boolean, object, array, null)',
    ],
    ['empty type list', { type: [] }, 'params.p.type: must name at least one type'],
    ['empty enum', { enum: [] }, 'params.p.enum: must be a non-empty array of allowed values'],
    ['non-number minimum', { minimum: '1' as unknown as number }, 'params.p.minimum: must be a number, got "1"'],
    ['zero multipleOf', { multipleOf: 0 }, 'params.p.multipleOf: must be > 0, got 0'],
    ['negative minLength', { minLength: -1 }, 'params.p.minLength: must be a non-negative integer, got -1'],
    ['min above max', { minimum: 5, maximum: 1 }, 'params.p: minimum 5 is greater than maximum 1'],
    ['minLength above maxLength', { minLength: 5, maxLength: 1 }, 'params.p: minLength 5 is greater than maxLength 1'],
    [
      'bad pattern',
      { pattern: '(' },
      'params.p.pattern: is not a valid regular expression: Invalid regular expression: /(/u: Unterminated group',
    ],
    [
      'unknown format',
      { format: 'dates' as 'date' },
      'params.p.format: unknown format "dates" (supported: date, date-time, time, duration, email, hostname, ipv4, ipv6, uri, uuid, regex)',
    ],
    [
      'bad nested items',
      { type: 'array', items: { type: 'nope' as 'string' } },
      'params.p.items.type: unknown type "nope" (expected one of string, number, integer, boolean, object, array, null)',
    ],
    [
      'bad property',
      { properties: { lr: { maximum: 'x' as unknown as number } } },
      'params.p.properties.lr.maximum: must be a number, got "x"',
    ],
    ['bad required', { required: [1 as unknown as string] }, 'params.p.required: must be an array of property names'],
  ];
  for (const [name, schema, message] of badSchemas) {
    it(`rejects a schema with ${name}`, function () {
      expect(() => extractParams({ p: param(null, schema) }, 'params', failWith)).to.throw(message);
    });
  }

  it('rejects values that are not JSON', function () {
    expect(() => extractParams({ p: 10n as unknown as Json }, 'params', failWith)).to.throw(
      'params.p: must be a JSON value: Do not know how to serialize a BigInt',
    );
    expect(() => extractParams({ p: (() => 1) as unknown as Json }, 'params', failWith)).to.throw(
      'params.p: must be a JSON value, got function',
    );
  });
});

describe('params: the compiler', function () {
  it('emits params (defaults) and param_specs for the DAG and for tasks', function () {
    const { spec } = compileDag(
      dag({ dagId: 'p', params: { rows: param(10, { type: 'integer', minimum: 1 }), mode: 'fast' } }, (d) => {
        d.task({ taskId: 't', params: { rows: 20, lr: param(0.1, { type: 'number' }) } }, () => 1);
        d.task({ taskId: 'plain' }, () => 1);
      }),
      'p.ts',
    );
    expect(spec.params).to.deep.equal({ rows: 10, mode: 'fast' });
    expect(spec.param_specs).to.deep.equal({ rows: { schema: { type: 'integer', minimum: 1 }, description: null } });
    const t = spec.tasks.find((x) => x.task_id === 't')!;
    expect(t.params).to.deep.equal({ rows: 20, lr: 0.1 });
    expect(t.param_specs).to.deep.equal({ lr: { schema: { type: 'number' }, description: null } });
    const plain = spec.tasks.find((x) => x.task_id === 'plain')!;
    expect('params' in plain).to.equal(false);
    expect('param_specs' in plain).to.equal(false);
  });

  it('adds no param_specs key to DAGs without param() (their specs stay as they were)', function () {
    const { spec } = compileDag(
      dag({ dagId: 'q', params: { a: 1 } }, (d) => void d.empty({ taskId: 'e' })),
      'q.ts',
    );
    expect('param_specs' in spec).to.equal(false);
    expect(spec.params).to.deep.equal({ a: 1 });
  });

  it('names the DAG, the task and the field of a bad schema', function () {
    const bad = dag(
      { dagId: 'b', params: { n: param(1, { type: 'integer', minimum: 'x' as unknown as number }) } },
      (d) => void d.empty({ taskId: 'e' }),
    );
    expect(() => compileDag(bad, 'b.ts')).to.throw(
      DagDefinitionError,
      'DAG "b": params.n.minimum: must be a number, got "x"',
    );
    const badTask = dag(
      { dagId: 'b2' },
      (d) => void d.task({ taskId: 't', params: { n: param(1, { type: 'float' as 'number' }) } }, () => 1),
    );
    expect(() => compileDag(badTask, 'b2.ts')).to.throw(
      DagDefinitionError,
      'DAG "b2", task "t": params.n.type: unknown type "float" (expected one of string, number, integer, boolean, object, array, null)',
    );
  });

  it('checks templateFields against the task kind', function () {
    const ok = compileDag(
      dag({ dagId: 'tf' }, (d) => {
        d.process({ taskId: 'p', argv: ['echo'], templateFields: ['argv', 'argv'] });
        d.task({ taskId: 'f', templateFields: ['input'] }, () => 1);
      }),
      'tf.ts',
    );
    expect(ok.spec.tasks.find((t) => t.task_id === 'p')!.template_fields).to.deep.equal(['argv']);
    expect(ok.spec.tasks.find((t) => t.task_id === 'f')!.template_fields).to.deep.equal(['input']);
    const bad = dag(
      { dagId: 'tf2' },
      (d) => void d.process({ taskId: 'p', argv: ['echo'], templateFields: ['input'] }),
    );
    expect(() => compileDag(bad, 'tf2.ts')).to.throw(
      'DAG "tf2", task "p": templateFields: "input" cannot be templated in a process task (templatable: argv, env, cwd)',
    );
    const bad2 = dag({ dagId: 'tf3' }, (d) => void d.empty({ taskId: 'e', templateFields: ['argv'] }));
    expect(() => compileDag(bad2, 'tf3.ts')).to.throw(
      'DAG "tf3", task "e": templateFields: "argv" cannot be templated in an empty task (templatable: none)',
    );
  });
});

describe('params: merging layers (DAG < task < conf)', function () {
  const dagLayer = {
    source: 'params' as const,
    values: { rows: 10, mode: 'fast' },
    specs: {
      rows: { schema: { type: 'integer' as const, minimum: 1 }, description: null },
      need: { schema: { type: 'string' as const }, description: null },
    },
  };

  it('a plain value keeps the schema; a spec replaces it; conf wins; unknown conf keys are kept', function () {
    const merged = mergeParams([
      dagLayer,
      {
        source: 'params',
        values: { mode: 'full', lr: 0.1 },
        specs: { lr: { schema: { type: 'number' }, description: null } },
        owner: 'task "t"',
      },
      { source: 'conf', values: { rows: 3, extra: true } },
    ]);
    expect(paramValues(merged)).to.deep.equal({ rows: 3, mode: 'full', lr: 0.1, extra: true });
    expect(merged.get('rows')).to.deep.equal({
      name: 'rows',
      value: 3,
      source: 'conf',
      spec: dagLayer.specs.rows,
      specOwner: undefined,
    });
    expect(merged.get('lr')).to.deep.include({ source: 'params', specOwner: 'task "t"' });
    expect(merged.get('need')).to.deep.equal({
      name: 'need',
      value: undefined,
      source: 'params',
      spec: dagLayer.specs.need,
      specOwner: undefined,
    });
    expect(merged.get('extra')).to.deep.equal({
      name: 'extra',
      value: true,
      source: 'conf',
      spec: null,
      specOwner: undefined,
    });
  });
});

describe('params: validation messages (ajv)', function () {
  const cases: Array<[string, ParamSchema, Json, string[]]> = [
    ['valid integer', { type: 'integer', minimum: 1 }, 5, []],
    ['no schema', {}, 'anything', []],
    ['type', { type: 'integer' }, 'ten', ['conf.x: must be integer, got "ten"']],
    ['type list', { type: ['integer', 'null'] }, 1.5, ['conf.x: must be integer or null, got 1.5']],
    ['null allowed', { type: ['integer', 'null'] }, null, []],
    ['minimum', { type: 'integer', minimum: 1 }, 0, ['conf.x: must be >= 1, got 0']],
    ['maximum', { maximum: 10 }, 11, ['conf.x: must be <= 10, got 11']],
    ['exclusiveMinimum', { exclusiveMinimum: 0 }, 0, ['conf.x: must be > 0, got 0']],
    ['exclusiveMaximum', { exclusiveMaximum: 1 }, 1, ['conf.x: must be < 1, got 1']],
    ['multipleOf', { multipleOf: 5 }, 12, ['conf.x: must be a multiple of 5, got 12']],
    ['minLength', { minLength: 3 }, 'ab', ['conf.x: must be at least 3 characters long, got "ab"']],
    ['maxLength', { maxLength: 2 }, 'abc', ['conf.x: must be at most 2 characters long, got "abc"']],
    ['pattern', { pattern: '^v\\d+$' }, 'x1', ['conf.x: must match the pattern "^v\\\\d+$", got "x1"']],
    ['format date', { format: 'date' }, '2025-02-30', ['conf.x: must be a valid date, got "2025-02-30"']],
    ['format date ok', { format: 'date' }, '2025-02-28', []],
    ['format email', { format: 'email' }, 'nobody', ['conf.x: must be a valid email, got "nobody"']],
    ['enum', { enum: ['fast', 'full', 3] }, 'slow', ['conf.x: must be one of "fast", "full", 3, got "slow"']],
    ['const', { const: 'v1' }, 'v2', ['conf.x: must be "v1", got "v2"']],
    ['minItems', { minItems: 2 }, [1], ['conf.x: must have at least 2 items, got [1]']],
    ['maxItems', { maxItems: 1 }, [1, 2], ['conf.x: must have at most 1 items, got [1,2]']],
    [
      'uniqueItems',
      { uniqueItems: true },
      [1, 2, 1],
      ['conf.x: must not have duplicate items (items 0 and 2 are equal), got [1,2,1]'],
    ],
    ['items', { type: 'array', items: { type: 'integer' } }, [1, 'b'], ['conf.x[1]: must be integer, got "b"']],
    [
      'nested property',
      { type: 'object', properties: { lr: { type: 'number', maximum: 1 } } },
      { lr: 2 },
      ['conf.x.lr: must be <= 1, got 2'],
    ],
    [
      'required',
      { type: 'object', required: ['lr'] },
      { other: 1 },
      ['conf.x: must have the property "lr", got {"other":1}'],
    ],
    [
      'additionalProperties',
      { type: 'object', properties: { a: {} }, additionalProperties: false },
      { a: 1, b: 2 },
      ['conf.x: must not have the property "b", got {"a":1,"b":2}'],
    ],
    [
      'several problems',
      { type: 'string', minLength: 5, pattern: '^a' },
      'bcd',
      ['conf.x: must be at least 5 characters long, got "bcd"', 'conf.x: must match the pattern "^a", got "bcd"'],
    ],
  ];
  for (const [name, schema, value, expected] of cases) {
    it(name, function () {
      expect(problemsFor(schema, value)).to.deep.equal(expected);
    });
  }

  it('names defaults as params.x and long values are cut', function () {
    expect(problemsFor({ type: 'integer' }, 'y'.repeat(200), 'params')).to.deep.equal([
      `params.x: must be integer, got "${'y'.repeat(96)}...`,
    ]);
  });

  it('never echoes a value under a sensitive name (api_key, password, token, ...)', function () {
    const check = (name: string, schema: ParamSchema, value: Json): string[] =>
      checkParam({ name, value, source: 'conf', spec: { schema, description: null }, specOwner: undefined });
    expect(check('api_key', { type: 'string', pattern: '^sk-' }, 'hunter2-long-secret')).to.deep.equal([
      'conf.api_key: must match the pattern "^sk-", got ***',
    ]);
    expect(
      check('db', { type: 'object', properties: { password: { minLength: 30 } } }, { password: 'hunter2-long-secret' }),
    ).to.deep.equal(['conf.db.password: must be at least 30 characters long, got ***']);
  });

  it('a param without default and without a conf value is an error', function () {
    expect(
      checkParam({
        name: 'rows',
        value: undefined,
        source: 'params',
        spec: { schema: { type: 'integer' }, description: null },
        specOwner: undefined,
      }),
    ).to.deep.equal([
      `params.rows: no value passed and the param has no default (pass it in conf, e.g. --conf '{"rows": ...}')`,
    ]);
  });

  it('validateRunParams checks the DAG and every task with params, naming tasks for their own schemas', function () {
    const { spec } = compileDag(
      dag({ dagId: 'v', params: { rows: param(10, { type: 'integer', minimum: 1 }), mode: 'fast' } }, (d) => {
        d.task({ taskId: 'train', params: { lr: param(0.1, { type: 'number', maximum: 1 }) } }, () => 1);
        d.task({ taskId: 'other' }, () => 1);
      }),
      'v.ts',
    );
    const dagSpec: DagSpec = spec;
    expect(validateRunParams(dagSpec, {})).to.deep.equal([]);
    expect(validateRunParams(dagSpec, { rows: 5, lr: 0.5, unknown: 'kept' })).to.deep.equal([]);
    expect(validateRunParams(dagSpec, { rows: 0 })).to.deep.equal(['conf.rows: must be >= 1, got 0']);
    expect(validateRunParams(dagSpec, { rows: 0, lr: 2 })).to.deep.equal([
      'conf.rows: must be >= 1, got 0',
      'task "train": conf.lr: must be <= 1, got 2',
    ]);
  });
});
