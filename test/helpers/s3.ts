import { S3ArtifactStore } from '../../artifacts/index.js';

/** The test S3-compatible server (versitygw, scripts/services/s3.sh start; UPDRAFT_TEST_S3_*). */
export function s3TestEnv(): {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  region: string;
} {
  const e = process.env;
  const endpoint = e['UPDRAFT_TEST_S3_ENDPOINT'];
  if (!endpoint) {
    throw new Error(
      'UPDRAFT_TEST_S3_ENDPOINT is not set: start the test S3 server with `eval "$(scripts/services/s3.sh start)"` and run the tests again',
    );
  }
  return {
    endpoint,
    accessKeyId: e['UPDRAFT_TEST_S3_ACCESS_KEY_ID'] ?? '',
    secretAccessKey: e['UPDRAFT_TEST_S3_SECRET_ACCESS_KEY'] ?? '',
    bucket: e['UPDRAFT_TEST_S3_BUCKET'] ?? 'updraft-test',
    region: e['UPDRAFT_TEST_S3_REGION'] ?? 'us-east-1',
  };
}

/** A client of the test's own for the bucket's `prefix` (to read back what a worker or step stored). */
export function s3TestStore(prefix: string): S3ArtifactStore {
  const s3 = s3TestEnv();
  return new S3ArtifactStore({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}
