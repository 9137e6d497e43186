/// <reference types="mocha" />
/**
 * Templating: the pure date helpers and context (table tests), rendering of task fields with lazy
 * Variables/Connections and masking, and end-to-end runs on a real stack (Temporal + PGlite):
 * params validated at trigger time, a process task templated from ds, params, conf, var and conn,
 * a template typo failing its task, and secrets masked in task_log, the log file and the error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { TriggerError } from '../../client/trigger.js';
import { listDagRuns } from '../../db/dag-run.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { FERNET_KEY_ENV } from '../../secrets/encryption.js';
import { MASK, MIN_MASKED_LENGTH, SecretMasker } from '../../secrets/masker.js';
import { addConnection, setVariable, type ConnectionValue } from '../../secrets/store.js';
import { buildTemplateContext, type TemplateFacts } from '../../activities/templating/context.js';
import {
  TemplateDateTime,
  dsAdd,
  dsFormat,
  formatDs,
  formatDsNodash,
  formatTs,
  formatTsNodash,
  formatTsNodashWithTz,
  isoformat,
  strftime,
  strptime,
} from '../../activities/templating/dates.js';
import { effectiveParams } from '../../activities/templating/prepare-try.js';
import { TemplateRenderError, renderTaskFields, type SecretLookup } from '../../activities/templating/render.js';
import { taskLogPath } from '../../activities/task-log.js';
import type { Json, TaskSpec } from '../../spec/dag-spec.js';
import type { RunTaskRequest } from '../../workflows/types.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { runDag, startRun, ti, uniqueRunId } from '../workflows/helpers.js';
import { baseTaskSpec } from '../helpers/task-spec.js';

const FIXTURE_DAGS = path.resolve(__dirname, '../../../test/fixtures/dags-templating');

describe('templating: dates and macros', function () {
  const d = new Date('2025-03-04T05:06:07.000Z');
  const withMs = new Date('2025-03-04T05:06:07.250Z');

  const formats: Array<[string, string, string]> = [
    ['isoformat', isoformat(d), '2025-03-04T05:06:07+00:00'],
    ['isoformat with milliseconds (Python prints microseconds)', isoformat(withMs), '2025-03-04T05:06:07.250000+00:00'],
    ['ds', formatDs(d), '2025-03-04'],
    ['ds_nodash', formatDsNodash(d), '20250304'],
    ['ts', formatTs(d), '2025-03-04T05:06:07+00:00'],
    ['ts_nodash', formatTsNodash(withMs), '20250304T050607'],
    ['ts_nodash_with_tz', formatTsNodashWithTz(d), '20250304T050607+0000'],
    [
      'strftime, every directive',
      strftime(d, '%Y|%y|%m|%d|%H|%M|%S|%j|%b|%a|%%'),
      '2025|25|03|04|05|06|07|063|Mar|Tue|%',
    ],
    ['strftime, leap day of year', strftime(new Date('2024-12-31T00:00:00Z'), '%j'), '366'],
  ];
  for (const [name, actual, expected] of formats) {
    it(name, function () {
      expect(actual).to.equal(expected);
    });
  }

  it('strptime parses the same directives (UTC)', function () {
    expect(strptime('2025-03-04 05:06:07', '%Y-%m-%d %H:%M:%S').toISOString()).to.equal('2025-03-04T05:06:07.000Z');
    expect(strptime('Tue 04 Mar 25', '%a %d %b %y').toISOString()).to.equal('2025-03-04T00:00:00.000Z');
    expect(strptime('2025/063', '%Y/%j').toISOString()).to.equal('2025-03-04T00:00:00.000Z');
    expect(strptime('99', '%y').getUTCFullYear()).to.equal(1999);
    expect(strptime('100%', '%j%%').toISOString()).to.equal('1900-04-10T00:00:00.000Z');
  });

  const strptimeErrors: Array<[string, string, string]> = [
    ['2025-02-30', '%Y-%m-%d', '"2025-02-30" does not match format "%Y-%m-%d": day 30 is out of range for the month'],
    ['2025-13-01', '%Y-%m-%d', '"2025-13-01" does not match format "%Y-%m-%d": month 13 is out of range'],
    ['2025-03-04x', '%Y-%m-%d', '"2025-03-04x" does not match format "%Y-%m-%d": unconverted data remains: "x"'],
    ['25-03-04', '%Y-%m-%d', '"25-03-04" does not match format "%Y-%m-%d": expected a 4-digit year at position 1'],
    ['2025', '%G', 'unsupported directive %G in "%G" (supported: %Y %y %m %d %H %M %S %j %b %a %%)'],
  ];
  for (const [text, format, message] of strptimeErrors) {
    it(`strptime("${text}", "${format}") fails clearly`, function () {
      expect(() => strptime(text, format)).to.throw(message);
    });
  }

  it('ds_add and ds_format follow Airflow (and fail naming the macro)', function () {
    expect(dsAdd('2015-01-01', 5)).to.equal('2015-01-06');
    expect(dsAdd('2015-01-06', -5)).to.equal('2015-01-01');
    expect(dsAdd('2024-02-28', 1)).to.equal('2024-02-29');
    expect(dsAdd('2024-02-28', 0)).to.equal('2024-02-28');
    expect(dsFormat('2015-01-01', '%Y-%m-%d', '%m-%d-%y')).to.equal('01-01-15');
    expect(dsFormat('1/5/2015', '%m/%d/%Y', '%Y-%m-%d')).to.equal('2015-01-05');
    expect(() => dsAdd('yesterday', 1)).to.throw('macros.ds_add: expected a date like 2025-01-31, got "yesterday"');
    expect(() => dsAdd('2015-01-01', 1.5)).to.throw('macros.ds_add: days must be an integer, got 1.5');
    expect(() => dsFormat('2015-01-01', '%d/%m/%Y', '%Y')).to.throw(
      'macros.ds_format: "2015-01-01" does not match format "%d/%m/%Y": expected "/" at position 3',
    );
  });

  it('TemplateDateTime prints like pendulum and has Python attributes', function () {
    const t = new TemplateDateTime(withMs);
    expect(String(t)).to.equal('2025-03-04T05:06:07.250000+00:00');
    expect([t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond]).to.deep.equal([
      2025, 3, 4, 5, 6, 7, 250000,
    ]);
    expect(t.strftime('%d.%m.%Y')).to.equal('04.03.2025');
    expect(t.timestamp()).to.equal(withMs.getTime() / 1000);
    expect(JSON.stringify({ t })).to.equal('{"t":"2025-03-04T05:06:07.250000+00:00"}');
  });
});

const FACTS: TemplateFacts = {
  dagId: 'etl',
  runId: 'manual__2025-03-04T05:06:07+00:00',
  runType: 'manual',
  logicalDate: '2025-03-04T05:06:07.000Z',
  dataIntervalStart: '2025-03-03T00:00:00.000Z',
  dataIntervalEnd: '2025-03-04T00:00:00.000Z',
  conf: { who: 'ann', n: 3 },
  params: { rows: 10, cfg: { lr: 0.1 }, 'odd key': 'k' },
  taskId: 'load',
  tryNumber: 2,
  mapIndex: -1,
};

const CONNECTIONS: Record<string, ConnectionValue> = {
  db: {
    conn_id: 'db',
    conn_type: 'postgres',
    description: null,
    host: 'db.example.com',
    schema: 'analytics',
    login: 'etl',
    password: 'p@ss word/1',
    port: 5432,
    extra: JSON.stringify({ region: 'eu-west-1', api_key: 'extra-api-key-123', nested: { token: 'nested-token-456' } }),
  },
};

const VARIABLES: Record<string, string> = {
  region: 'eu-west-1',
  cfg: JSON.stringify({ layers: [64, 32], name: 'm' }),
  notjson: '{oops',
  db_password: 'variable-password-789',
  model_secret: JSON.stringify({ key: 'json-secret-abc', short: 'ab' }),
};

class FakeLookup implements SecretLookup {
  readonly variableCalls: string[] = [];
  readonly connectionCalls: string[] = [];
  async variable(key: string): Promise<string | undefined> {
    this.variableCalls.push(key);
    return VARIABLES[key];
  }
  async connection(connId: string): Promise<ConnectionValue | undefined> {
    this.connectionCalls.push(connId);
    return CONNECTIONS[connId];
  }
}

function processSpec(
  argv: string[],
  extra: Partial<TaskSpec> = {},
  env: Record<string, string> = {},
  cwd: string | null = null,
): TaskSpec {
  return baseTaskSpec({
    task_id: 'load',
    kind: 'process',
    operator: 'ProcessOperator',
    owner: 'updraft',
    process: { argv, env, cwd, shell: false },
    ...extra,
  });
}

async function render(
  source: string,
  facts: TemplateFacts = FACTS,
  lookup: SecretLookup = new FakeLookup(),
  masker?: SecretMasker,
): Promise<string> {
  const out = await renderTaskFields({ spec: processSpec([source]), input: undefined }, facts, lookup, masker);
  return out.spec.process!.argv[0]!;
}

async function renderError(source: string, facts: TemplateFacts = FACTS): Promise<TemplateRenderError> {
  try {
    await render(source, facts);
  } catch (err) {
    expect(err).to.be.instanceOf(TemplateRenderError);
    return err as TemplateRenderError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to fail`);
}

describe('templating: the Airflow context', function () {
  const cases: Array<[string, string]> = [
    ['{{ ds }}', '2025-03-04'],
    ['{{ ds_nodash }}', '20250304'],
    ['{{ ts }}', '2025-03-04T05:06:07+00:00'],
    ['{{ ts_nodash }}', '20250304T050607'],
    ['{{ ts_nodash_with_tz }}', '20250304T050607+0000'],
    ['{{ logical_date }}', '2025-03-04T05:06:07+00:00'],
    ['{{ logical_date.year }}-{{ logical_date.month }}-{{ logical_date.day }}', '2025-3-4'],
    ['{{ logical_date.strftime("%Y/%j") }}', '2025/063'],
    ['{{ logical_date.isoformat() }}', '2025-03-04T05:06:07+00:00'],
    ['{{ data_interval_start }}', '2025-03-03T00:00:00+00:00'],
    ['{{ data_interval_end }}', '2025-03-04T00:00:00+00:00'],
    ['{{ data_interval_start | ds }}', '2025-03-03'],
    ['{{ data_interval_start | ds_nodash }}', '20250303'],
    ['{{ data_interval_end | ts }}', '2025-03-04T00:00:00+00:00'],
    ['{{ data_interval_end | ts_nodash }}', '20250304T000000'],
    ['{{ data_interval_end | ts_nodash_with_tz }}', '20250304T000000+0000'],
    ['{{ "2025-01-02T03:04:05Z" | ds_nodash }}', '20250102'],
    ['{{ run_id }}', 'manual__2025-03-04T05:06:07+00:00'],
    [
      '{{ dag_run.dag_id }} {{ dag_run.run_id }} {{ dag_run.run_type }}',
      'etl manual__2025-03-04T05:06:07+00:00 manual',
    ],
    ['{{ dag_run.conf.who }} {{ dag_run.conf["n"] }}', 'ann 3'],
    ['{{ dag_run.logical_date | ds }}', '2025-03-04'],
    ['{{ dag_run.data_interval_start | ds }}', '2025-03-03'],
    ['{{ dag.dag_id }}', 'etl'],
    ['{{ task.task_id }}', 'load'],
    [
      '{{ ti.task_id }} {{ ti.try_number }} {{ ti.map_index }} {{ ti.dag_id }} {{ ti.run_id }}',
      'load 2 -1 etl manual__2025-03-04T05:06:07+00:00',
    ],
    ['{{ task_instance.try_number }}', '2'],
    ['{{ params.rows }} {{ params.cfg.lr }} {{ params["odd key"] }}', '10 0.1 k'],
    ['{{ params.rows * 2 }}', '20'],
    ['{{ conf.who }}', 'ann'],
    ['{{ conf.get("missing", "fallback") }} {{ conf.get("who") }}', 'fallback ann'],
    ['{% for k, v in conf.items() %}{{ k }}={{ v }};{% endfor %}', 'who=ann;n=3;'],
    ['{{ task_instance_key_str }}', 'etl__load__20250304'],
    ['{{ macros.ds_add(ds, 5) }}', '2025-03-09'],
    ['{{ macros.ds_add("2025-03-01", -1) }}', '2025-02-28'],
    ['{{ macros.ds_format(ds, "%Y-%m-%d", "%d %b %Y (%a)") }}', '04 Mar 2025 (Tue)'],
    ['{{ var.value.region }}', 'eu-west-1'],
    ['{{ var.value.get("region", "x") }} {{ var.value.get("nope", "default") }}', 'eu-west-1 default'],
    ['{{ var.json.cfg.layers[1] }} {{ var.json.cfg.name }}', '32 m'],
    ['{{ var.json.get("nope", {"a": 7}).a }}', '7'],
    ['{% if var.value.nope is defined %}yes{% else %}no{% endif %}', 'no'],
    [
      '{{ conn.db.host }}:{{ conn.db.port }}/{{ conn.db.schema }} as {{ conn.db.login }} ({{ conn.db.conn_type }})',
      'db.example.com:5432/analytics as etl (postgres)',
    ],
    ['{{ conn.db.password }}', 'p@ss word/1'],
    ['{{ conn.db.extra_dejson.region }} {{ conn.db.extra_dejson.nested.token }}', 'eu-west-1 nested-token-456'],
    [
      '{{ conn.db.extra }}',
      '{"region":"eu-west-1","api_key":"extra-api-key-123","nested":{"token":"nested-token-456"}}',
    ],
    [
      '{{ conn.db.get_uri() }}',
      `postgres://etl:p%40ss%20word%2F1@db.example.com:5432/analytics?${new URLSearchParams({ __extra__: CONNECTIONS.db!.extra! })}`,
    ],
    ['{{ conn["db"].host }}', 'db.example.com'],
    ['{{ params | tojson }}', '{"rows":10,"cfg":{"lr":0.1},"odd key":"k"}'],
    ['{{ "v" ~ params.rows }}', 'v10'],
    ['{{ params.nope | default("d") }}{{ params.rows | string }}', 'd10'],
    ['{{ None | default("none", true) }} {{ True }}', 'none true'],
    ['{# a comment #}plain', 'plain'],
    ['<{{ "x" }}>&', '<x>&'],
  ];
  for (const [source, expected] of cases) {
    it(source, async function () {
      expect(await render(source)).to.equal(expected);
    });
  }

  it('without a logical date: ds and ts* are absent, dates are null, task_instance_key_str uses the run id', async function () {
    const facts = { ...FACTS, logicalDate: null, dataIntervalStart: null, dataIntervalEnd: null };
    const ctx = buildTemplateContext(facts, { var: { value: {}, json: {} }, conn: {} });
    for (const key of ['ds', 'ds_nodash', 'ts', 'ts_nodash', 'ts_nodash_with_tz'])
      expect(ctx).to.not.have.property(key);
    expect(ctx.logical_date).to.equal(null);
    expect(await render('{{ task_instance_key_str }}', facts)).to.equal('etl__load__manual__2025-03-04T05:06:07+00:00');
    expect((await renderError('{{ ds }}', facts)).message).to.equal(
      'cannot render argv[0] "{{ ds }}": ds is undefined: this run has no logical date',
    );
    expect((await renderError('x{{ logical_date }}', facts)).message).to.equal(
      'cannot render argv[0] "x{{ logical_date }}": logical_date is null',
    );
    expect(await render('{% if logical_date %}set{% else %}none{% endif %}', facts)).to.equal('none');
  });

  it('the context has every documented key', function () {
    const ctx = buildTemplateContext(FACTS, { var: { value: {}, json: {} }, conn: {} });
    expect(Object.keys(ctx).sort()).to.deep.equal([
      'conf',
      'conn',
      'dag',
      'dag_run',
      'data_interval_end',
      'data_interval_start',
      'ds',
      'ds_nodash',
      'logical_date',
      'macros',
      'params',
      'run_after',
      'run_id',
      'task',
      'task_instance',
      'task_instance_key_str',
      'ti',
      'triggering_asset_events',
      'ts',
      'ts_nodash',
      'ts_nodash_with_tz',
      'var',
    ]);
  });
});

describe('templating: errors name the field and what is undefined', function () {
  const cases: Array<[string, string]> = [
    ['rows={{ params.rowz }}', 'cannot render argv[0] "rows={{ params.rowz }}": params.rowz is undefined'],
    ['{{ rowz }}', 'cannot render argv[0] "{{ rowz }}": rowz is undefined'],
    [
      'a\n{{ ds }} {{ params.cfg.missing.deeper }}',
      'cannot render argv[0] "a\\n{{ ds }} {{ params.cfg.missing.deeper }}": params.cfg.missing is undefined',
    ],
    [
      '{{ var.value.nope }}',
      'cannot render argv[0] "{{ var.value.nope }}": var.value.nope is undefined: variable "nope" does not exist (set it with `updraft variables set nope <value>`)',
    ],
    [
      '{{ conn.missing.host }}',
      'cannot render argv[0] "{{ conn.missing.host }}": conn.missing is undefined: connection "missing" is not defined (add it with `updraft connections add missing --conn-type ...`)',
    ],
    ['{{ conn.db.description }}', 'cannot render argv[0] "{{ conn.db.description }}": conn.db.description is null'],
    ['{{ conn.db.passwrd }}', 'cannot render argv[0] "{{ conn.db.passwrd }}": conn.db.passwrd is undefined'],
    [
      '{{ params.nope | upper }}',
      'cannot render argv[0] "{{ params.nope | upper }}": params.nope is undefined (given to the upper filter)',
    ],
    [
      '{{ "a" ~ (conf.typo | trim | lower) }}',
      'cannot render argv[0] "{{ \\"a\\" ~ (conf.typo | trim | lower) }}": conf.typo is undefined (given to the trim filter)',
    ],
    ['{{ params.rows ', 'cannot render argv[0] "{{ params.rows ": template syntax error: expected variable end'],
    [
      '{{ macros.ds_add("nope", 1) }}',
      'cannot render argv[0] "{{ macros.ds_add(\\"nope\\", 1) }}": macros.ds_add: expected a date like 2025-01-31, got "nope"',
    ],
    [
      '{{ macros.nope(ds) }}',
      'cannot render argv[0] "{{ macros.nope(ds) }}": Unable to call `macros["nope"]`, which is undefined or falsey',
    ],
  ];
  for (const [source, message] of cases) {
    it(source.replace(/\n/g, '\\n'), async function () {
      expect((await renderError(source)).message).to.equal(message);
    });
  }

  it('a variable that is not JSON fails var.json with the parse error, never quoting the value', async function () {
    const err = await renderError('{{ var.json.notjson.a }}');
    expect(err.message).to.equal(
      'cannot render argv[0] "{{ var.json.notjson.a }}": var.json.notjson: variable "notjson" is not valid JSON ' +
        "(5 bytes): expected a property name or '}' at position 1",
    );
  });

  it('names env and cwd fields', async function () {
    const spec = processSpec(['echo'], {}, { GOOD: '{{ ds }}', BAD: '{{ conf.nope }}' });
    const err = await renderTaskFields({ spec, input: undefined }, FACTS, new FakeLookup()).catch((e: Error) => e);
    expect((err as Error).message).to.equal('cannot render env.BAD "{{ conf.nope }}": conf.nope is undefined');
    const err2 = await renderTaskFields(
      { spec: processSpec(['echo'], {}, {}, '/tmp/{{ nope }}'), input: undefined },
      FACTS,
      new FakeLookup(),
    ).catch((e: Error) => e);
    expect((err2 as Error).message).to.equal('cannot render cwd "/tmp/{{ nope }}": nope is undefined');
  });
});

describe('templating: fields, lazy secrets and masking', function () {
  it('renders argv, env values and cwd; leaves strings without Jinja and env keys alone', async function () {
    const spec = processSpec(
      ['run', '--date={{ ds }}', '{literal}'],
      {},
      { '{{ KEY }}': '{{ params.rows }}', PLAIN: 'x' },
      '/data/{{ ds_nodash }}',
    );
    const out = await renderTaskFields({ spec, input: undefined }, FACTS, new FakeLookup());
    expect(out.spec.process).to.deep.equal({
      argv: ['run', '--date=2025-03-04', '{literal}'],
      env: { '{{ KEY }}': '10', PLAIN: 'x' },
      cwd: '/data/20250304',
      shell: false,
    });
    expect(spec.process!.argv[1]).to.equal('--date={{ ds }}', 'the input spec is not mutated');
  });

  it('template_fields narrows what is rendered', async function () {
    const spec = processSpec(['{{ ds }}'], { template_fields: ['argv'] }, { A: '{{ ds }}' });
    const out = await renderTaskFields({ spec, input: undefined }, FACTS, new FakeLookup());
    expect(out.spec.process!.argv).to.deep.equal(['2025-03-04']);
    expect(out.spec.process!.env).to.deep.equal({ A: '{{ ds }}' });
  });

  it('renders container image, command, args, env and working_dir', async function () {
    const spec = processSpec(['x'], {
      kind: 'container',
      process: undefined,
      container: {
        image: 'trainer:{{ params.rows }}',
        command: ['python', '{{ ds }}'],
        args: ['--who={{ conf.who }}'],
        env: { REGION: '{{ var.value.region }}' },
        working_dir: '/w/{{ ds_nodash }}',
        mounts: [],
        runtime: null,
        pull_policy: 'never',
        network_mode: null,
        kubernetes: {
          namespace: null,
          service_account: null,
          image_pull_secrets: [],
          node_selector: {},
          tolerations: [],
          pending_timeout: null,
        },
      },
    });
    const out = await renderTaskFields({ spec, input: undefined }, FACTS, new FakeLookup());
    expect(out.spec.container).to.deep.include({
      image: 'trainer:10',
      command: ['python', '2025-03-04'],
      args: ['--who=ann'],
      env: { REGION: 'eu-west-1' },
      working_dir: '/w/20250304',
    });
  });

  it("renders a function task's input only when it opts in, and never values that came from XComs", async function () {
    const template: Json = {
      day: '{{ ds }}',
      list: ['{{ params.rows }}', 1],
      upstream: { $xcom: { task_id: 'a', key: 'return_value', path: [] } },
    };
    const input: Json = { day: '{{ ds }}', list: ['{{ params.rows }}', 1], upstream: '{{ from an xcom }}' };
    const fn = processSpec([], { kind: 'function', process: undefined, input: template });
    expect((await renderTaskFields({ spec: fn, input }, FACTS, new FakeLookup())).input).to.deep.equal(input);
    const optedIn = { ...fn, template_fields: ['input'] };
    expect((await renderTaskFields({ spec: optedIn, input }, FACTS, new FakeLookup())).input).to.deep.equal({
      day: '2025-03-04',
      list: ['10', 1],
      upstream: '{{ from an xcom }}',
    });
  });

  it('reads nothing when no field holds Jinja, and only what templates touch otherwise (each once)', async function () {
    const none = new FakeLookup();
    const spec = processSpec(['echo', 'plain']);
    const target = { spec, input: undefined };
    expect(await renderTaskFields(target, FACTS, none)).to.equal(target);
    expect([none.variableCalls, none.connectionCalls]).to.deep.equal([[], []]);

    const some = new FakeLookup();
    const out = await renderTaskFields(
      {
        spec: processSpec(['{{ var.value.region }}', '{{ var.value.region }}{{ conn.db.host }}', '{{ ds }}']),
        input: undefined,
      },
      FACTS,
      some,
    );
    expect(out.spec.process!.argv).to.deep.equal(['eu-west-1', 'eu-west-1db.example.com', '2025-03-04']);
    expect(some.variableCalls).to.deep.equal(['region']);
    expect(some.connectionCalls).to.deep.equal(['db']);
  });

  it('follows lookups that depend on other lookups (a variable naming a connection)', async function () {
    const lookup = new FakeLookup();
    VARIABLES.which_conn = 'db';
    try {
      expect(await render('{{ conn[var.value.which_conn].host }}', FACTS, lookup)).to.equal('db.example.com');
      expect(lookup.variableCalls).to.deep.equal(['which_conn']);
      expect(lookup.connectionCalls).to.deep.equal(['db']);
    } finally {
      delete VARIABLES.which_conn;
    }
  });

  it('gives the masker what rendering touched: connection passwords, sensitive extra fields and sensitive variables', async function () {
    const masker = new SecretMasker();
    await render(
      '{{ conn.db.host }} {{ var.value.region }} {{ var.value.db_password }} {{ var.json.model_secret.key }}',
      FACTS,
      new FakeLookup(),
      masker,
    );
    const line =
      'p@ss word/1 extra-api-key-123 nested-token-456 variable-password-789 json-secret-abc eu-west-1 db.example.com p%40ss%20word%2F1 ab';
    expect(masker.mask(line)).to.equal('*** *** *** *** *** eu-west-1 db.example.com *** ab');
  });

  it('touching nothing secret registers nothing', async function () {
    const masker = new SecretMasker();
    await render('{{ var.value.region }} {{ ds }}', FACTS, new FakeLookup(), masker);
    expect(masker.size).to.equal(0);
  });
});

describe('templating: SecretMasker', function () {
  it('masks registered values, longest first, in every form they take', function () {
    const m = new SecretMasker();
    m.add('hunter22');
    m.add('hunter22-extended');
    m.add('a"b\\c/d e');
    expect(m.mask('pw=hunter22 long=hunter22-extended')).to.equal('pw=*** long=***');
    expect(m.mask('url=a%22b%5Cc%2Fd%20e json="a\\"b\\\\c/d e" raw=a"b\\c/d e')).to.equal('url=*** json="***" raw=***');
  });

  it(`ignores values shorter than ${MIN_MASKED_LENGTH} characters, null and undefined`, function () {
    const m = new SecretMasker();
    m.add('abcd');
    m.add(null);
    m.add(undefined);
    m.add('');
    expect(m.size).to.equal(0);
    expect(m.mask('abcd')).to.equal('abcd');
  });

  it('masks each line of a multi-line secret and escapes regex characters', function () {
    const m = new SecretMasker();
    m.add('-----BEGIN KEY-----\nMIIEv.*+?AB\n-----END KEY-----');
    expect(m.mask('line MIIEv.*+?AB here')).to.equal(`line ${MASK} here`);
    expect(m.mask('MIIEvXXXXAB')).to.equal('MIIEvXXXXAB');
  });

  it('chains a configured masker', function () {
    const m = new SecretMasker((l) => l.replace('configured', 'C'));
    m.add('learned-secret');
    expect(m.mask('configured learned-secret')).to.equal('C ***');
  });
});

describe('templating: effective params', function () {
  it('DAG params < task params < conf', function () {
    const req = {
      params: { rows: 3, label: 'dag', extra: 'x' },
      conf: { rows: 3, extra: 'x' },
      task: processSpec([], { params: { label: 'task', rows: 99, threshold: 0.5 } }),
    } as unknown as RunTaskRequest;
    expect(effectiveParams(req)).to.deep.equal({ rows: 3, label: 'task', extra: 'x', threshold: 0.5 });
  });
});

describe('templating: end to end (Temporal + PGlite)', function () {
  this.timeout(180_000);
  let stack: TestStack;
  const savedKey = process.env[FERNET_KEY_ENV];
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const apiSecret = `sec-${randomBytes(6).toString('hex')}`;
  let workdir: string;

  before(async function () {
    process.env[FERNET_KEY_ENV] = randomBytes(32).toString('base64');
    stack = await startTestStack({ dagsFolder: FIXTURE_DAGS });
    expect(stack.bag.importErrors).to.deep.equal([]);
    workdir = fs.mkdtempSync(path.join(stack.home, 'work-'));
    const db = stack.database.db;
    await setVariable(db, 'tpl_region', 'eu-west-1');
    await setVariable(db, 'tpl_workdir', workdir);
    await setVariable(db, 'tpl_api_secret', apiSecret);
    await addConnection(db, {
      conn_id: 'tpl_db',
      conn_type: 'postgres',
      host: 'db.example.com',
      port: 5432,
      login: 'etl',
      password,
    });
  });

  after(async function () {
    await stack?.stop();
    if (savedKey === undefined) delete process.env[FERNET_KEY_ENV];
    else process.env[FERNET_KEY_ENV] = savedKey;
  });

  async function expectRefused(conf: Record<string, Json>, message: string): Promise<void> {
    const runId = uniqueRunId('refused');
    const err = await startRun(stack, 'tpl_params', { runId, conf }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(TriggerError);
    expect(err!.message).to.equal(message);
    expect((await listDagRuns(stack.database.db, 'tpl_params')).map((r) => r.run_id)).to.not.include(runId);
  }

  it('refuses a trigger whose conf breaks a param schema, before any run row exists', async function () {
    await expectRefused({ rows: 0 }, 'invalid params for DAG "tpl_params": conf.rows: must be >= 1, got 0');
    await expectRefused(
      { rows: 'ten', mode: 'slow' },
      'invalid params for DAG "tpl_params": conf.mode: must be one of "fast", "full", got "slow"; conf.rows: must be integer, got "ten"',
    );
    await expectRefused(
      { threshold: 2 },
      'invalid params for DAG "tpl_params": task "report": conf.threshold: must be <= 1, got 2',
    );
    expect(await listDagRuns(stack.database.db, 'tpl_params')).to.deep.equal([]);
  });

  it('passes valid conf and gives the task DAG < task < conf params (unknown conf keys included)', async function () {
    const run = await runDag(stack, 'tpl_params', { conf: { rows: 3, extra: 'x' } });
    expect(run.result.state).to.equal('success');
    const xcom = await getXCom(stack.database.db, {
      dag_id: 'tpl_params',
      run_id: run.run.run_id,
      task_id: 'report',
      map_index: -1,
      key: 'return_value',
    });
    expect(xcom).to.deep.equal({ rows: 3, mode: 'fast', label: 'task-level', threshold: 0.5, extra: 'x' });
  });

  it('renders a process task from ds, params, conf, var and conn, masking the secrets in task_log and the log file', async function () {
    const run = await runDag(stack, 'tpl_process', { conf: { who: 'ann' } });
    expect(run.result.state).to.equal('success');
    const logical = run.run.logical_date!;
    const ds = logical.toISOString().slice(0, 10);
    const key = { dag_id: 'tpl_process', run_id: run.run.run_id, task_id: 'echo', map_index: -1, try_number: 1 };
    const stdout = (await readTaskLog(stack.database.db, key)).filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(stdout).to.deep.equal([
      `ds=${ds}`,
      'rows=5',
      'who=ann',
      'region=eu-west-1',
      'password=***',
      'secret=***',
      `key=tpl_process__echo__${ds.replace(/-/g, '')}`,
      `env=${run.run.run_id}/1/db.example.com:5432`,
      `cwd=${fs.realpathSync(workdir)}`,
    ]);
    const file = fs.readFileSync(taskLogPath(stack.config.logsFolder, key), 'utf8');
    expect(file).to.include('password=***').and.include('secret=***');
    expect(file).to.not.include(password);
    expect(file).to.not.include(apiSecret);
    const all = (await readTaskLog(stack.database.db, key)).map((l) => l.line).join('\n');
    expect(all).to.not.include(password);
  });

  it('fails a task whose template has a typo, naming the field and the undefined name', async function () {
    const run = await runDag(stack, 'tpl_typo');
    expect(run.result.state).to.equal('failed');
    const row = ti(run.tis, 'typo');
    expect(row.state).to.equal('failed');
    expect(row.error).to.equal('cannot render argv[1] "rows={{ params.rowz }}": params.rowz is undefined');
  });

  it('masks a rendered password in the error stored on the task instance', async function () {
    const run = await runDag(stack, 'tpl_leak');
    expect(run.result.state).to.equal('failed');
    const error = ti(run.tis, 'leak').error!;
    expect(error).to.include('/nonexistent/***');
    expect(error).to.not.include(password);
    const key = { dag_id: 'tpl_leak', run_id: run.run.run_id, task_id: 'leak', map_index: -1, try_number: 1 };
    const lines = (await readTaskLog(stack.database.db, key)).map((l) => l.line).join('\n');
    expect(lines).to.include('/nonexistent/***');
    expect(lines).to.not.include(password);
  });
});
