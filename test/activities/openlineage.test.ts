/**
 * OpenLineage RunEvents: every built event validated with ajv (draft 2020-12) against the vendored
 * OpenLineage schemas (test/fixtures/openlineage, spec 2-0-2 and the facet schemas we use), and the
 * two transports delivering to a real file and a real local HTTP server.
 */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  FACET_SCHEMA_URLS,
  RUN_EVENT_SCHEMA_URL,
  dagRunEvent,
  dagRunUuid,
  datasetFromUri,
  taskTryEvent,
  taskTryUuid,
  uuidV5,
  type RunEvent,
} from '../../activities/lineage/openlineage.js';
import {
  HttpTransport,
  JsonlFileTransport,
  OpenLineageConfigError,
  OpenLineageEmitter,
  openLineageFromEnv,
} from '../../activities/lineage/openlineage-transport.js';
import { loadValidator } from '../helpers/openlineage-schema.js';

const S = { namespace: 'updraft', producer: 'urn:updraft' };
const DAG = 'iris_retrain';
const RUN = 'scheduled__2026-12-06T03:00:00+00:00';
const T0 = '2026-12-06T03:00:05.123Z';
const INTERVAL = { nominalStartTime: '2026-12-05T03:00:00Z', nominalEndTime: '2026-12-06T03:00:00Z' };

/** A run's whole event stream: DAG start, a try that fails, its retry that succeeds, DAG complete. */
function scenario(): RunEvent[] {
  const base = { dagId: DAG, runId: RUN, ...INTERVAL };
  const train = { ...base, taskId: 'train', mapIndex: -1 };
  return [
    dagRunEvent(S, { ...base, eventType: 'START', eventTime: T0 }),
    taskTryEvent(S, {
      ...train,
      tryNumber: 1,
      eventType: 'START',
      eventTime: T0,
      inputs: ['s3://ml-data/sha256/ab/' + 'ab'.repeat(32)],
    }),
    taskTryEvent(S, {
      ...train,
      tryNumber: 1,
      eventType: 'FAIL',
      eventTime: new Date(T0),
      inputs: ['s3://ml-data/sha256/ab/' + 'ab'.repeat(32)],
      error: {
        message: 'ValueError: Input contains NaN',
        programmingLanguage: 'python',
        stackTrace: 'Traceback (most recent call last):\n  ...',
      },
    }),
    taskTryEvent(S, { ...train, tryNumber: 2, eventType: 'START', eventTime: T0 }),
    taskTryEvent(S, {
      ...train,
      tryNumber: 2,
      eventType: 'COMPLETE',
      eventTime: T0,
      inputs: ['s3://ml-data/sha256/ab/' + 'ab'.repeat(32)],
      outputs: [
        'file:///var/updraft/artifacts/sha256/cd/' + 'cd'.repeat(32),
        'file:///var/updraft/artifacts/sha256/cd/' + 'cd'.repeat(32),
      ],
    }),
    taskTryEvent(S, { ...base, taskId: 'score', mapIndex: 3, tryNumber: 1, eventType: 'COMPLETE', eventTime: T0 }),
    dagRunEvent(S, {
      dagId: DAG,
      runId: 'manual__1',
      eventType: 'FAIL',
      eventTime: T0,
      error: { message: 'task train failed' },
    }),
    dagRunEvent(S, { ...base, eventType: 'COMPLETE', eventTime: T0 }),
  ];
}

describe('OpenLineage events', function () {
  let validate: (event: unknown) => string[];
  before(async function () {
    validate = await loadValidator();
  });

  it('every event of a run validates against the OpenLineage 2-0-2 RunEvent schema and its facet schemas', function () {
    for (const event of scenario()) expect(validate(event), `${event.job.name} ${event.eventType}`).to.deep.equal([]);
  });

  it('the validator is real: broken events are refused with the field named', function () {
    const good = scenario()[2]!;
    const broken: Array<[unknown, RegExp]> = [
      [{ ...good, producer: undefined }, /must have required property 'producer'/],
      [{ ...good, eventType: 'DONE' }, /eventType must be equal to one of the allowed values/],
      [{ ...good, run: { ...good.run, runId: 'not-a-uuid' } }, /\/run\/runId must match format "uuid"/],
      [{ ...good, eventTime: 'yesterday' }, /\/eventTime must match format "date-time"/],
      [
        { ...good, run: { ...good.run, facets: { parent: { ...good.run.facets!.parent, _producer: undefined } } } },
        /must have required property '_producer'/,
      ],
      [
        {
          ...good,
          run: {
            ...good.run,
            facets: { errorMessage: { ...good.run.facets!.errorMessage, programmingLanguage: undefined } },
          },
        },
        /facet errorMessage must have required property 'programmingLanguage'/,
      ],
      [{ ...good, inputs: [{ namespace: 's3://x' }] }, /must have required property 'name'/],
    ];
    for (const [event, why] of broken) expect(validate(event).join('\n')).to.match(why);
  });

  it('task tries: job <dag_id>.<task_id>, parent = the DAG run, datasets from store uris, errorMessage on FAIL', function () {
    const [dagStart, , fail, , complete, mapped, dagFail] = scenario();
    expect(fail!.job).to.deep.equal({ namespace: 'updraft', name: 'iris_retrain.train' });
    expect(fail!.run.facets!.parent).to.deep.equal({
      _producer: 'urn:updraft',
      _schemaURL: FACET_SCHEMA_URLS.parent,
      run: { runId: dagStart!.run.runId },
      job: { namespace: 'updraft', name: 'iris_retrain' },
    });
    expect(fail!.run.facets!.errorMessage).to.deep.include({
      message: 'ValueError: Input contains NaN',
      programmingLanguage: 'python',
    });
    expect(fail!.run.facets!.nominalTime).to.deep.include({
      nominalStartTime: '2026-12-05T03:00:00.000Z',
      nominalEndTime: '2026-12-06T03:00:00.000Z',
    });
    expect(complete!.inputs).to.deep.equal([{ namespace: 's3://ml-data', name: 'sha256/ab/' + 'ab'.repeat(32) }]);
    // The same output twice is one dataset; a local path has no authority, so its namespace is the scheme.
    expect(complete!.outputs).to.deep.equal([
      { namespace: 'file', name: '/var/updraft/artifacts/sha256/cd/' + 'cd'.repeat(32) },
    ]);
    expect(complete!.run.facets!.errorMessage).to.equal(undefined);
    expect(mapped!.run.runId).to.equal(taskTryUuid(DAG, RUN, 'score', 3, 1));
    expect(dagFail!.run.facets).to.deep.equal({
      errorMessage: {
        _producer: 'urn:updraft',
        _schemaURL: FACET_SCHEMA_URLS.errorMessage,
        message: 'task train failed',
        programmingLanguage: 'unknown',
      },
    });
    expect(dagStart!.schemaURL).to.equal(RUN_EVENT_SCHEMA_URL);
    expect(dagStart!.eventTime).to.equal(T0);
  });

  it('run ids are deterministic UUID v5: same run or try, same id; another try, another id', function () {
    // RFC 4122 test vector: "www.example.com" in the DNS namespace.
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).to.equal(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    const events = scenario();
    expect(events[0]!.run.runId).to.equal(events[7]!.run.runId);
    expect(events[0]!.run.runId).to.equal(dagRunUuid(DAG, RUN));
    expect(events[1]!.run.runId).to.equal(events[2]!.run.runId);
    expect(events[3]!.run.runId).to.not.equal(events[1]!.run.runId);
    expect(dagRunUuid('a.b', 'c')).to.not.equal(dagRunUuid('a', 'b.c'));
  });

  it('datasetFromUri: scheme://authority and the path within it', function () {
    expect(datasetFromUri('s3://bucket/prefix/sha256/00/x')).to.deep.equal({
      namespace: 's3://bucket',
      name: 'prefix/sha256/00/x',
    });
    expect(datasetFromUri('file:///tmp/a%20b/c')).to.deep.equal({ namespace: 'file', name: '/tmp/a b/c' });
    expect(datasetFromUri('not a uri')).to.deep.equal({ namespace: 'unknown', name: 'not a uri' });
  });
});

describe('OpenLineage transports', function () {
  let validate: (event: unknown) => string[];
  let dir: string;
  before(async function () {
    validate = await loadValidator();
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-openlineage-'));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('JSONL file: concurrent emits append one valid event per line', async function () {
    const file = path.join(dir, 'nested', 'events.jsonl');
    const warnings: string[] = [];
    const emitter = new OpenLineageEmitter(S, [new JsonlFileTransport(file, (m) => warnings.push(m))], (m) =>
      warnings.push(m),
    );
    const events = [...scenario(), ...scenario(), ...scenario()];
    await Promise.all(events.map((e) => emitter.emit(e)));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines).to.have.length(events.length);
    for (const line of lines) expect(validate(JSON.parse(line))).to.deep.equal([]);
    expect(warnings).to.deep.equal([]);
  });

  describe('HTTP, against a real local server', function () {
    let server: http.Server;
    let base: string;
    let mode: 'ok' | 'error' | 'hang' = 'ok';
    const received: Array<{ url: string; contentType: string; auth: string | undefined; body: unknown }> = [];
    before(async function () {
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          if (mode === 'hang') return; // never answers
          if (mode === 'error') {
            res.writeHead(500, { 'content-type': 'text/plain' }).end('marquez is down');
            return;
          }
          received.push({
            url: req.url ?? '',
            contentType: req.headers['content-type'] ?? '',
            auth: req.headers.authorization,
            body: JSON.parse(body),
          });
          res.writeHead(201).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async function () {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('POSTs each event as JSON to <url>/api/v1/lineage with the API key as a bearer token', async function () {
      const warnings: string[] = [];
      const emitter = openLineageFromEnv(
        {
          UPDRAFT_OPENLINEAGE_URL: base,
          UPDRAFT_OPENLINEAGE_API_KEY: 's3cr3t-key',
          UPDRAFT_OPENLINEAGE_NAMESPACE: 'prod',
        },
        (m) => warnings.push(m),
      );
      expect(emitter).to.not.equal(null);
      await emitter!.emitDagRun({ eventType: 'START', eventTime: T0, dagId: DAG, runId: RUN, ...INTERVAL });
      await emitter!.emitTaskTry({
        eventType: 'COMPLETE',
        eventTime: T0,
        dagId: DAG,
        runId: RUN,
        taskId: 'train',
        mapIndex: -1,
        tryNumber: 1,
        outputs: ['s3://m/k'],
      });
      expect(warnings).to.deep.equal([]);
      expect(received.map((r) => [r.url, r.contentType, r.auth])).to.deep.equal([
        ['/api/v1/lineage', 'application/json', 'Bearer s3cr3t-key'],
        ['/api/v1/lineage', 'application/json', 'Bearer s3cr3t-key'],
      ]);
      for (const r of received) expect(validate(r.body)).to.deep.equal([]);
      expect((received[1]!.body as RunEvent).job).to.deep.equal({ namespace: 'prod', name: `${DAG}.train` });
    });

    it('a 500, a timeout and a refused connection are logged (without the key) and never thrown', async function () {
      const warnings: string[] = [];
      const warn = (m: string) => warnings.push(m);
      const event = scenario()[0]!;
      mode = 'error';
      await new HttpTransport(base, { apiKey: 's3cr3t-key', warn }).emit(event);
      mode = 'hang';
      await new HttpTransport(base, { timeoutMs: 200, warn }).emit(event);
      mode = 'ok';
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      await new HttpTransport(`http://127.0.0.1:${deadPort}/base`, { warn }).emit(event);
      expect(warnings).to.have.length(3);
      expect(warnings[0]).to.match(/answered HTTP 500 to a START event for iris_retrain: marquez is down/);
      expect(warnings[1]).to.match(/no answer within 200 ms/);
      expect(warnings[2]).to.match(new RegExp(`127\\.0\\.0\\.1:${deadPort}/base/api/v1/lineage: .*ECONNREFUSED`));
      expect(warnings.join('\n')).to.not.contain('s3cr3t');
    });
  });

  it('an unwritable JSONL file is logged and the emit still resolves', async function () {
    const blocker = path.join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const warnings: string[] = [];
    await new JsonlFileTransport(path.join(blocker, 'events.jsonl'), (m) => warnings.push(m)).emit(scenario()[0]!);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain('could not append a START event for iris_retrain');
  });

  it('a bad time in the input is logged by the emitter, not thrown', async function () {
    const warnings: string[] = [];
    const emitter = new OpenLineageEmitter(S, [], (m) => warnings.push(m));
    await emitter.emitDagRun({ eventType: 'START', eventTime: 'not a time', dagId: DAG, runId: RUN });
    expect(warnings[0]).to.contain('could not build a START event for DAG run iris_retrain/');
  });

  it('configuration: nothing set means no emitter; bad values name the variable', function () {
    expect(openLineageFromEnv({})).to.equal(null);
    const file = openLineageFromEnv({ UPDRAFT_OPENLINEAGE_FILE: 'ol/events.jsonl' }, () => undefined, '/srv');
    expect(file?.transports.map((t) => t.name)).to.deep.equal(['file /srv/ol/events.jsonl']);
    expect(file?.settings).to.deep.equal({ namespace: 'updraft', producer: 'urn:updraft' });
    const both = openLineageFromEnv({
      UPDRAFT_OPENLINEAGE_FILE: '/x.jsonl',
      UPDRAFT_OPENLINEAGE_URL: 'http://marquez:5000',
      UPDRAFT_OPENLINEAGE_ENDPOINT: '/custom/lineage',
    });
    expect(both?.transports.map((t) => t.name)).to.deep.equal([
      'file /x.jsonl',
      'http http://marquez:5000/custom/lineage',
    ]);
    for (const [env, variable] of [
      [{ UPDRAFT_OPENLINEAGE_URL: 'marquez:5000' }, 'UPDRAFT_OPENLINEAGE_URL'],
      [{ UPDRAFT_OPENLINEAGE_URL: 'http://m', UPDRAFT_OPENLINEAGE_TIMEOUT_MS: '0' }, 'UPDRAFT_OPENLINEAGE_TIMEOUT_MS'],
      [{ UPDRAFT_OPENLINEAGE_FILE: '/x', UPDRAFT_OPENLINEAGE_PRODUCER: 'updraft 1.0' }, 'UPDRAFT_OPENLINEAGE_PRODUCER'],
    ] as const) {
      let err: unknown;
      try {
        openLineageFromEnv(env);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(OpenLineageConfigError);
      expect((err as OpenLineageConfigError).variable).to.equal(variable);
    }
  });
});
