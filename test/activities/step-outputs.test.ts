/// <reference types="mocha" />
/**
 * Step output protocol v1: the pure rules (activities/step-outputs/protocol.ts) and the I/O half
 * (step-io.ts) against a real local store and real folders: output files stored once, refs
 * replaced, input artifacts materialized and hash-checked, the Kubernetes manifest checked against
 * the store, and in-process logging.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalArtifactStore, hashBytes } from '../../artifacts/index.js';
import {
  InputArtifactError,
  StepOutputError,
  findArtifactRefs,
  parseArtifactsJson,
  parseManifest,
  parseMetricsJsonl,
  parseOutletEventsJson,
  parseParamsJson,
  replaceArtifactOutMarkers,
  resolveOutletExtras,
} from '../../activities/step-outputs/protocol.js';
import { StepIO } from '../../activities/step-outputs/step-io.js';
import type { Json } from '../../spec/dag-spec.js';

function errorOf(fn: () => unknown): StepOutputError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(StepOutputError);
    return err as StepOutputError;
  }
  throw new Error('expected a StepOutputError');
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('step output protocol v1: the rules', () => {
  it('reads metrics.jsonl: default step 0, curves, blank lines, timestamps', () => {
    expect(
      parseMetricsJsonl(
        '{"name":"acc","value":0.9}\n\n{"name":"loss","value":1,"step":3,"timestamp":"2026-12-06T10:00:00Z"}\r\n',
      ),
    ).to.deep.equal([
      { name: 'acc', value: 0.9, step: 0 },
      { name: 'loss', value: 1, step: 3, timestamp: '2026-12-06T10:00:00Z' },
    ]);
  });

  it('refuses bad metric lines, naming the line and field and never the content', () => {
    const cases: Array<[string, string]> = [
      [
        '{"name":"a","value":1}\n{"name":"b","value":"sk-SECRET"}',
        `metrics.jsonl: line 2 field 'value': metric "b" needs a finite number, got a string`,
      ],
      [
        '{"name":"a","value":1e999}',
        `metrics.jsonl: line 1 field 'value': metric "a" needs a finite number, got a number`,
      ],
      [
        '{"name":"a","value":1,"step":-1}',
        `metrics.jsonl: line 1 field 'step': metric "a" needs an integer >= 0, got -1`,
      ],
      [
        '{"name":"a","value":1,"step":1.5}',
        `metrics.jsonl: line 1 field 'step': metric "a" needs an integer >= 0, got 1.5`,
      ],
      ['{"value":1}', `metrics.jsonl: line 1 field 'name': is missing`],
      ['{"name":"a"}', `metrics.jsonl: line 1 field 'value': is missing (metric "a")`],
      [
        '{"name":"a","value":1,"extra":2}',
        'metrics.jsonl: line 1: unknown field(s) extra; expected name, value, step, timestamp',
      ],
      ['[1,2]', 'metrics.jsonl: line 1: expected an object {"name": ..., "value": ..., "step": ...}, got an array'],
      [
        '{"name":"a","value":1,"timestamp":"yesterday"}',
        `metrics.jsonl: line 1 field 'timestamp': metric "a" needs an ISO 8601 time, got a string`,
      ],
      ['sk-SECRET-TOKEN', 'metrics.jsonl: line 1: not valid JSON (unexpected token)'],
    ];
    for (const [text, message] of cases) {
      const err = errorOf(() => parseMetricsJsonl(text));
      expect(err.message, text).to.equal(message);
      expect(err.message).to.not.include('SECRET');
    }
  });

  it('reads params.json and refuses nested values, long strings and bad names', () => {
    expect(parseParamsJson('{"C":1,"solver":"lbfgs","scale":true}')).to.deep.equal({
      C: 1,
      solver: 'lbfgs',
      scale: true,
    });
    expect(errorOf(() => parseParamsJson('{"a":[1]}')).message).to.equal(
      "params.json: param 'a': expected a string, a finite number or a boolean (params are flat), got an array",
    );
    expect(errorOf(() => parseParamsJson(JSON.stringify({ a: 'x'.repeat(6001) }))).message).to.equal(
      "params.json: param 'a': the value has 6001 characters, at most 6000",
    );
    expect(errorOf(() => parseParamsJson('{"bad name":1}')).field).to.equal('a key');
    expect(errorOf(() => parseParamsJson('[]')).message).to.equal(
      'params.json: expected a flat object {"name": value}, got an array',
    );
    expect(errorOf(() => parseParamsJson('{"a":')).message).to.match(
      /^params\.json: not valid JSON \(5 bytes\): unexpected end of input/,
    );
  });

  it('reads artifacts.json and refuses what protocol v1 does not allow', () => {
    expect(
      parseArtifactsJson(
        '{"outputs":[{"name":"model","path":"m/model.onnx","type":"model","format":"onnx","metadata":{"k":1},"register":{"model":"iris","signature":{"inputs":[]}}}]}',
      ),
    ).to.deep.equal([
      {
        name: 'model',
        path: 'm/model.onnx',
        type: 'model',
        format: 'onnx',
        metadata: { k: 1 },
        register: { model: 'iris', signature: { inputs: [] } },
      },
    ]);
    const cases: Array<[unknown, string]> = [
      [
        { outputs: [{ name: 'm', path: '/etc/passwd', type: 'model' }] },
        'artifacts.json: outputs[0].path: is absolute; paths are relative to the output folder',
      ],
      [
        { outputs: [{ name: 'm', path: 'a/../../b', type: 'model' }] },
        "artifacts.json: outputs[0].path: contains '..'; paths must stay inside the output folder",
      ],
      [
        { outputs: [{ name: 'm', path: 'a', type: 'weights' }] },
        'artifacts.json: outputs[0].type: expected one of model, dataset, report, other, got another string',
      ],
      [
        { outputs: [{ name: 'm', path: 'a', type: 'model', format: 'ONNX!' }] },
        'artifacts.json: outputs[0].format: expected a short lower-case format name like onnx, csv, json, got a string',
      ],
      [
        {
          outputs: [
            { name: 'm', path: 'a', type: 'model' },
            { name: 'm', path: 'b', type: 'model' },
          ],
        },
        'artifacts.json: outputs[1].name: "m" is declared twice',
      ],
      [
        { outputs: [{ name: 'm', path: 'a', type: 'model', register: { model: '-bad' } }] },
        "artifacts.json: outputs[0].register.model: expected a model name of 1-250 letters, digits, '_', '.', '-' (a letter or digit first), got a string",
      ],
      [
        { outputs: [{ name: 'm', path: 'a', type: 'report', register: { model: 'x' } }] },
        "artifacts.json: outputs[0].register: only an artifact of type 'model' registers a model version",
      ],
      [{ outputs: {} }, 'artifacts.json: expected {"outputs": [ ... ]}, got an object'],
      [{ outputs: [], more: 1 }, 'artifacts.json: unknown field(s) more; expected outputs'],
    ];
    for (const [value, message] of cases)
      expect(errorOf(() => parseArtifactsJson(JSON.stringify(value))).message, JSON.stringify(value)).to.equal(message);
  });

  it('replaces $artifact_out placeholders and refuses one naming no output', () => {
    const ref = {
      $artifact: { sha256: 'a'.repeat(64), uri: 'file:///x', name: 'model', type: 'model', size: 1 },
    } as Json;
    const refs = new Map([['model', ref]]);
    expect(
      replaceArtifactOutMarkers({ m: { $artifact_out: 'model' }, list: [{ $artifact_out: 'model' }], n: 1 }, refs),
    ).to.deep.equal({ m: ref, list: [ref], n: 1 });
    expect(errorOf(() => replaceArtifactOutMarkers({ a: [{ $artifact_out: 'nope' }] }, refs)).message).to.equal(
      'return.json: return.a[0].$artifact_out: "nope" is not an output in artifacts.json (declared: model)',
    );
  });

  it('finds every input ref, and names where a malformed one is', () => {
    const body = { sha256: 'b'.repeat(64), uri: 's3://b/k', name: 'train', type: 'dataset', size: 10 };
    expect(findArtifactRefs({ x: { $artifact: body }, l: [1, { $artifact: body }] }).map((r) => r.where)).to.deep.equal(
      ['input.x', 'input.l[1]'],
    );
    expect(errorOf(() => findArtifactRefs({ x: { $artifact: { ...body, sha256: 'short' } } })).message).to.equal(
      'the task input: input.x.$artifact.sha256: expected 64 lower-case hex characters',
    );
  });

  it('reads outlet_events.json, checks its uris against the outlets, and refuses a bad shape or size', () => {
    const events = parseOutletEventsJson('{"s3://lake/raw/": {"extra": {"rows": 3}}, "file:///x": {}}');
    expect(events).to.deep.equal({ 's3://lake/raw/': { rows: 3 }, 'file:///x': {} });
    expect(
      resolveOutletExtras(events, [{ uri: 's3://lake/raw' }, { uri: 'file:///x' }], 't', 'outlet_events.json'),
    ).to.deep.equal({ 's3://lake/raw': { rows: 3 }, 'file:///x': {} });
    expect(
      errorOf(() => resolveOutletExtras({ 's3://secret-name': {} }, [], 't', 'outlet_events.json')).message,
    ).to.equal(
      `outlet_events.json: [0]: not an outlet of task "t" (it has no outlets); add the asset to the task's outlets or fix the uri`,
    );
    expect(errorOf(() => parseOutletEventsJson('[1]')).message).to.equal(
      'outlet_events.json: expected {"<outlet uri>": {"extra": {...}}}, got an array',
    );
    expect(errorOf(() => parseOutletEventsJson('{"s3://x": {"extras": {}}}')).message).to.match(
      /^outlet_events.json: \[0\]: unknown field\(s\) extras; expected extra$/,
    );
    expect(errorOf(() => parseOutletEventsJson('{"s3://x": {"extra": [1]}}')).message).to.match(
      /^outlet_events.json: \[0\]\.extra: /,
    );
    expect(
      errorOf(() => parseOutletEventsJson(JSON.stringify({ 's3://x': { extra: { b: 'x'.repeat(70_000) } } }))).message,
    ).to.match(/^outlet_events.json: \[0\]\.extra: is 70008 bytes of JSON, at most 65536/);
  });

  it('parses the Kubernetes manifest', () => {
    const sha = 'c'.repeat(64);
    const m = parseManifest({
      $updraft_manifest: 1,
      return: { model: { $artifact_out: 'model' } },
      metrics: [{ name: 'acc', value: 1 }],
      params: { C: 1 },
      artifacts: [{ name: 'model', type: 'model', sha256: sha, uri: `s3://b/sha256/cc/${sha}`, size: 3 }],
    });
    expect(m.metrics).to.deep.equal([{ name: 'acc', value: 1, step: 0 }]);
    expect(m.artifacts).to.deep.equal([
      { name: 'model', type: 'model', sha256: sha, uri: `s3://b/sha256/cc/${sha}`, size: 3 },
    ]);
    expect(errorOf(() => parseManifest({ $updraft_manifest: 2 })).message).to.equal(
      'the termination message manifest: $updraft_manifest: this worker reads manifest version 1',
    );
    expect(
      errorOf(() =>
        parseManifest({
          $updraft_manifest: 1,
          artifacts: [{ name: 'm', type: 'model', sha256: sha, uri: 'http://x', size: 1 }],
        }),
      ).message,
    ).to.equal('the termination message manifest: artifacts[0].uri: expected the store uri (s3://... or file://...)');
  });
});

describe('step output protocol v1: collecting into a real local store', () => {
  let dir: string;
  let store: LocalArtifactStore;
  let io: StepIO;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-step-io-'));
    store = new LocalArtifactStore(path.join(dir, 'store'));
    io = new StepIO(store);
    await mkdir(path.join(dir, 'out'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('stores each output once, replaces placeholders, returns metrics and params', async () => {
    const out = path.join(dir, 'out');
    await writeFile(path.join(out, 'a.csv'), 'x\n1\n');
    await writeFile(path.join(out, 'b.csv'), 'x\n1\n');
    await writeFile(path.join(out, 'metrics.jsonl'), '{"name":"rows","value":1}\n');
    await writeFile(path.join(out, 'params.json'), '{"seed":1}');
    await writeFile(
      path.join(out, 'artifacts.json'),
      JSON.stringify({
        outputs: [
          { name: 'a', path: 'a.csv', type: 'dataset' },
          { name: 'b', path: 'b.csv', type: 'dataset', format: 'csv' },
        ],
      }),
    );
    const got = await io.collectFolder(out, { a: { $artifact_out: 'a' }, b: { $artifact_out: 'b' } });
    const sha = hashBytes(Buffer.from('x\n1\n'));
    expect(got.outputs.artifacts.map((a) => [a.declared.name, a.sha256, a.created])).to.deep.equal([
      ['a', sha, true],
      ['b', sha, false],
    ]);
    expect(got.returnValue).to.deep.equal({
      a: { $artifact: { sha256: sha, uri: store.uriFor(sha), name: 'a', type: 'dataset', size: 4 } },
      b: { $artifact: { sha256: sha, uri: store.uriFor(sha), name: 'b', type: 'dataset', size: 4, format: 'csv' } },
    });
    expect(got.outputs.metrics).to.deep.equal([{ name: 'rows', value: 1, step: 0 }]);
    expect(got.outputs.params).to.deep.equal({ seed: 1 });
  });

  it('refuses a symlink, a link out of the folder and a file that is not UTF-8', async () => {
    const out = path.join(dir, 'out');
    await writeFile(path.join(dir, 'secret'), 'top secret');
    await symlink(path.join(dir, 'secret'), path.join(out, 'link'));
    await mkdir(path.join(dir, 'elsewhere'));
    await writeFile(path.join(dir, 'elsewhere', 'f'), 'x');
    await symlink(path.join(dir, 'elsewhere'), path.join(out, 'sub'));
    const declare = (p: string) =>
      writeFile(path.join(out, 'artifacts.json'), JSON.stringify({ outputs: [{ name: 'm', path: p, type: 'model' }] }));
    await declare('link');
    expect((await rejection(io.collectFolder(out, undefined))).message).to.equal(
      'artifacts.json: outputs[0].path: "link" is a symbolic link; write the file itself',
    );
    await declare('sub/f');
    expect((await rejection(io.collectFolder(out, undefined))).message).to.equal(
      'artifacts.json: outputs[0].path: "sub/f" resolves outside the output folder',
    );
    await rm(path.join(out, 'artifacts.json'));
    await writeFile(path.join(out, 'metrics.jsonl'), Buffer.from([0xff, 0xfe, 0x00]));
    expect((await rejection(io.collectFolder(out, undefined))).message).to.equal('metrics.jsonl: is not UTF-8 text');
  });

  it('materializes input artifacts by sha256 (hash-checked) and adds the path the step sees', async () => {
    const put = await store.putBytes(Buffer.from('train data'));
    const ref = { $artifact: { sha256: put.sha256, uri: put.uri, name: 'train', type: 'dataset', size: put.size } };
    const seen = (await io.materialize(
      { train: ref, again: ref },
      path.join(dir, 'in'),
      '/updraft/artifacts',
    )) as Record<string, { $artifact: { path: string } }>;
    expect(seen['train']!.$artifact.path).to.equal(`/updraft/artifacts/${put.sha256}`);
    expect(seen['again']!.$artifact.path).to.equal(`/updraft/artifacts/${put.sha256}`);
    expect(await readFile(path.join(dir, 'in', put.sha256), 'utf8')).to.equal('train data');
    const missing = { $artifact: { ...ref.$artifact, sha256: 'd'.repeat(64) } };
    const err = await rejection(io.materialize({ m: missing }, path.join(dir, 'in2')));
    expect(err).to.be.instanceOf(InputArtifactError);
    expect(err.message).to.match(/^input artifact at input\.m \("train"\): artifact d{64} is not in the store/);
  });

  it('checks a manifest against the store: present, same size, same store', async () => {
    const put = await store.putBytes(Buffer.from('model'));
    const manifest = (over: object) => ({
      $updraft_manifest: 1,
      return: { m: { $artifact_out: 'model' } },
      artifacts: [{ name: 'model', type: 'model', sha256: put.sha256, uri: put.uri, size: 5, ...over }],
    });
    const ok = await io.collectManifest(manifest({}) as Json);
    expect(ok.returnValue).to.deep.equal({
      m: { $artifact: { sha256: put.sha256, uri: put.uri, name: 'model', type: 'model', size: 5 } },
    });
    expect((await rejection(io.collectManifest(manifest({ size: 6 }) as Json))).message).to.equal(
      'the termination message manifest: artifacts[0].size: output "model" is 5 bytes in the store, the manifest says 6',
    );
    const other = 'e'.repeat(64);
    expect(
      (await rejection(io.collectManifest(manifest({ sha256: other, uri: store.uriFor(other) }) as Json))).message,
    ).to.equal(
      `the termination message manifest: artifacts[0].sha256: output "model" is not in the artifact store (${store.uriFor(other)}); did the step upload it?`,
    );
    expect(
      (await rejection(io.collectManifest(manifest({ uri: `s3://elsewhere/sha256/${put.sha256}` }) as Json))).message,
    ).to.match(/artifacts\[0\]\.uri: names another store than this worker's/);
  });

  it('in-process logging: metrics and params checked, artifacts stored and named once', async () => {
    io.logMetric('acc', 0.5);
    io.logMetric('acc', 0.75, 2);
    io.logParams({ C: 1 });
    io.logParams({ C: 2, solver: 'lbfgs' });
    expect(() => io.logMetric('acc', Number.NaN)).to.throw(
      StepOutputError,
      'ctx.logMetric: metric 2 field \'value\': metric "acc" needs a finite number, got a number',
    );
    expect(() => io.logParams({ nested: {} as never })).to.throw(StepOutputError, "ctx.logParams: param 'nested'");
    const ref = await io.logArtifact({ name: 'report', bytes: '{"ok":true}', type: 'report', format: 'json' });
    expect(ref).to.deep.equal({
      $artifact: {
        sha256: hashBytes(Buffer.from('{"ok":true}')),
        uri: store.uriFor(hashBytes(Buffer.from('{"ok":true}'))),
        name: 'report',
        type: 'report',
        size: 11,
        format: 'json',
      },
    });
    expect((await rejection(io.logArtifact({ name: 'report', bytes: 'x', type: 'report' }))).message).to.equal(
      'ctx.logArtifact: report: an artifact of this name was already logged by this try',
    );
    expect((await rejection(io.logArtifact({ name: 'dir', path: dir, type: 'other' }))).message).to.equal(
      'ctx.logArtifact: dir.path: is not an existing regular file (v1 stores files, not folders)',
    );
    expect(io.logged.metrics).to.deep.equal([
      { name: 'acc', value: 0.5, step: 0 },
      { name: 'acc', value: 0.75, step: 2 },
    ]);
    expect(io.logged.params).to.deep.equal({ C: 2, solver: 'lbfgs' });
  });
});
