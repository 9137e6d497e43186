/**
 * The artifact store contract, run against the local folder store and against a real
 * S3-compatible server (versitygw, started by scripts/services/s3.sh; UPDRAFT_TEST_S3_*).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ArtifactHashMismatchError,
  ArtifactMissingError,
  ArtifactStoreConfigError,
  ArtifactStoreInputError,
  LocalArtifactStore,
  S3ArtifactStore,
  artifactStoreFromEnv,
  parseArtifactStoreLocation,
  type ArtifactStore,
} from '../../artifacts/index.js';
import { s3TestEnv } from '../helpers/s3.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export { s3TestEnv };

interface Kind {
  readonly name: string;
  make(): Promise<{ store: ArtifactStore; corrupt(sha256: string, bytes: Uint8Array): Promise<void> }>;
}

const KINDS: Kind[] = [
  {
    name: 'local',
    async make() {
      const root = await mkdtemp(path.join(os.tmpdir(), 'updraft-artifacts-'));
      const store = new LocalArtifactStore(root);
      return {
        store,
        async corrupt(sha256, bytes) {
          const p = store.pathFor(sha256);
          await chmod(p, 0o644);
          await writeFile(p, bytes);
        },
      };
    },
  },
  {
    name: 's3 (versitygw)',
    async make() {
      const env = s3TestEnv();
      // A fresh prefix per run: tests never see another run's objects.
      const store = new S3ArtifactStore({
        bucket: env.bucket,
        prefix: `test-${process.pid}-${randomBytes(4).toString('hex')}/`,
        endpoint: env.endpoint,
        region: env.region,
        credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
      });
      return {
        store,
        async corrupt(sha256, bytes) {
          await store.client.send(
            new PutObjectCommand({ Bucket: store.bucket, Key: store.keyOf(sha256), Body: bytes }),
          );
        },
      };
    },
  },
];

for (const kind of KINDS) {
  describe(`artifact store: ${kind.name}`, function () {
    let store: ArtifactStore;
    let corrupt: (sha256: string, bytes: Uint8Array) => Promise<void>;
    let dir: string;
    before(async function () {
      ({ store, corrupt } = await kind.make());
      dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-artifacts-io-'));
    });
    after(async function () {
      await rm(dir, { recursive: true, force: true });
      if (store instanceof LocalArtifactStore) await rm(store.root, { recursive: true, force: true });
    });

    it('put stores a file under its sha256; the same bytes again are not stored twice', async function () {
      const file = path.join(dir, 'model.onnx');
      const bytes = randomBytes(200_000);
      await writeFile(file, bytes);
      const first = await store.put(file);
      expect(first).to.deep.equal({
        sha256: sha(bytes),
        size: bytes.length,
        uri: store.uriFor(sha(bytes)),
        created: true,
      });
      expect(first.uri).to.match(
        store.kind === 'local'
          ? /^file:\/\/\/.*\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/
          : /^s3:\/\/[^/]+\/test-[^/]+\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/,
      );
      expect(first.uri.endsWith(`/sha256/${first.sha256.slice(0, 2)}/${first.sha256}`)).to.equal(true);
      const again = await store.put(file);
      expect(again).to.deep.equal({ ...first, created: false });
      const fromBytes = await store.putBytes(bytes);
      expect(fromBytes).to.deep.equal({ ...first, created: false });
      expect(await store.stat(first.sha256)).to.deep.equal({ size: bytes.length });
      expect(await store.exists(first.sha256)).to.equal(true);
    });

    it('get writes verified bytes to the destination (creating its folder)', async function () {
      const bytes = Buffer.from('sepal_length,sepal_width\n5.1,3.5\n');
      const { sha256, created } = await store.putBytes(bytes);
      expect(created).to.equal(true);
      const dest = path.join(dir, 'inputs', 'nested', 'train.csv');
      await store.get(sha256, dest);
      expect(await readFile(dest)).to.deep.equal(bytes);
      // Replaces an existing destination.
      await writeFile(dest, 'stale');
      await store.get(sha256, dest);
      expect(await readFile(dest)).to.deep.equal(bytes);
    });

    it('empty and multi-megabyte files round-trip', async function () {
      for (const bytes of [Buffer.alloc(0), randomBytes(6 * 1024 * 1024)]) {
        const file = path.join(dir, `blob-${bytes.length}`);
        await writeFile(file, bytes);
        const put = await store.put(file);
        expect(put.sha256).to.equal(sha(bytes));
        const dest = path.join(dir, `back-${bytes.length}`);
        await store.get(put.sha256, dest);
        expect(sha(await readFile(dest))).to.equal(put.sha256);
      }
    });

    it('a missing object is ArtifactMissingError; exists/stat say so', async function () {
      const absent = sha('never stored ' + Math.random());
      const dest = path.join(dir, 'absent');
      const err = await rejection(store.get(absent, dest));
      expect(err).to.be.instanceOf(ArtifactMissingError);
      expect(err.message).to.contain(absent);
      expect(await store.exists(absent)).to.equal(false);
      expect(await store.stat(absent)).to.equal(null);
      expect(await exists(dest)).to.equal(false);
    });

    it('corrupt stored bytes fail the hash check and never reach the destination', async function () {
      const bytes = Buffer.from('the real model');
      const { sha256 } = await store.putBytes(bytes);
      await corrupt(sha256, Buffer.from('tampered bytes'));
      const dest = path.join(dir, 'tampered');
      const err = await rejection(store.get(sha256, dest));
      expect(err).to.be.instanceOf(ArtifactHashMismatchError);
      expect((err as ArtifactHashMismatchError).actual).to.equal(sha('tampered bytes'));
      expect(await exists(dest)).to.equal(false);
      expect((await readdir(dir)).filter((n) => n.includes('.partial'))).to.deep.equal([]);
    });

    it('concurrent puts of the same bytes leave one valid object', async function () {
      const bytes = randomBytes(50_000);
      const results = await Promise.all(Array.from({ length: 5 }, () => store.putBytes(bytes)));
      expect(new Set(results.map((r) => r.uri)).size).to.equal(1);
      if (store.kind === 'local') expect(results.filter((r) => r.created)).to.have.length(1);
      const dest = path.join(dir, 'raced');
      await store.get(sha(bytes), dest);
      expect(sha(await readFile(dest))).to.equal(sha(bytes));
    });

    it('a malformed hash is an input error naming the field', async function () {
      const err = await rejection(store.get('ABC', path.join(dir, 'x')));
      expect(err).to.be.instanceOf(ArtifactStoreInputError);
      expect((err as ArtifactStoreInputError).field).to.equal('sha256');
    });

    if (kind.name.startsWith('s3')) {
      it('the server refuses a body that does not match the SHA-256 sent with it (what put relies on)', async function () {
        const s3 = store as S3ArtifactStore;
        const claimed = sha('what was hashed');
        const err = await rejection(
          s3.client.send(
            new PutObjectCommand({
              Bucket: s3.bucket,
              Key: s3.keyOf(claimed),
              Body: Buffer.from('what was uploaded'),
              ChecksumSHA256: Buffer.from(claimed, 'hex').toString('base64'),
            }),
          ),
        );
        expect(err.name).to.match(/BadDigest|InvalidRequest|XAmzContentChecksumMismatch|Checksum/i);
        expect(await store.exists(claimed)).to.equal(false);
      });
    }
  });
}

describe('artifact store configuration', function () {
  const home = '/srv/updraft';
  const cases: ReadonlyArray<[string | undefined, ReturnType<typeof parseArtifactStoreLocation>]> = [
    [undefined, { kind: 'local', root: '/srv/updraft/artifacts' }],
    ['', { kind: 'local', root: '/srv/updraft/artifacts' }],
    ['file:///data/artifacts', { kind: 'local', root: '/data/artifacts' }],
    ['/data/a', { kind: 'local', root: '/data/a' }],
    ['rel/store', { kind: 'local', root: '/work/proj/rel/store' }],
    ['s3://ml-artifacts', { kind: 's3', bucket: 'ml-artifacts', prefix: '' }],
    ['s3://ml-artifacts/team/a/', { kind: 's3', bucket: 'ml-artifacts', prefix: 'team/a' }],
  ];
  for (const [value, expected] of cases) {
    it(`${JSON.stringify(value)} -> ${expected.kind}`, function () {
      expect(parseArtifactStoreLocation(value, home, '/work/proj')).to.deep.equal(expected);
    });
  }
  const bad: ReadonlyArray<[NodeJS.ProcessEnv, string, string]> = [
    [{ UPDRAFT_ARTIFACT_STORE: 's3://' }, 'UPDRAFT_ARTIFACT_STORE', 'names no valid bucket'],
    [{ UPDRAFT_ARTIFACT_STORE: 'gs://bucket' }, 'UPDRAFT_ARTIFACT_STORE', 'unsupported store'],
    [{ UPDRAFT_ARTIFACT_STORE: 'file://host/x' }, 'UPDRAFT_ARTIFACT_STORE', 'not a file URL'],
    [
      { UPDRAFT_ARTIFACT_STORE: 's3://b-1', UPDRAFT_S3_ENDPOINT: 'localhost:9000' },
      'UPDRAFT_S3_ENDPOINT',
      'expected http(s)://',
    ],
    [{ UPDRAFT_ARTIFACT_STORE: 's3://b-1', AWS_ACCESS_KEY_ID: 'k' }, 'AWS_SECRET_ACCESS_KEY', 'set both'],
  ];
  for (const [env, variable, text] of bad) {
    it(`refuses ${JSON.stringify(env)} naming ${variable}`, function () {
      let err: unknown;
      try {
        artifactStoreFromEnv(env, { home });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ArtifactStoreConfigError);
      expect((err as ArtifactStoreConfigError).variable).to.equal(variable);
      expect((err as Error).message).to.contain(text);
    });
  }

  it('builds the S3 store from the environment and it works against the test server', async function () {
    const env = s3TestEnv();
    const store = artifactStoreFromEnv(
      {
        UPDRAFT_ARTIFACT_STORE: `s3://${env.bucket}/env-${randomBytes(4).toString('hex')}`,
        UPDRAFT_S3_ENDPOINT: env.endpoint,
        AWS_ACCESS_KEY_ID: env.accessKeyId,
        AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
        AWS_REGION: env.region,
      },
      { home },
    );
    expect(store.kind).to.equal('s3');
    const put = await store.putBytes(Buffer.from('from env'));
    expect(put.created).to.equal(true);
    expect(await store.exists(put.sha256)).to.equal(true);
  });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
