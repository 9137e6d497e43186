/**
 * The S3 prefix watcher's listing (ListObjectsV2, every page) and its client: endpoint, region and
 * credentials from the watcher, or from an Airflow-style `aws` connection (login = access key id,
 * password = secret access key, extra `endpoint_url` / `region_name`), else the AWS SDK's defaults.
 */
import { ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { getConnection, type CipherOption } from '../../secrets/store.js';
import type { S3PrefixWatcherSpec } from '../../spec/asset-watcher.js';
import type { Listing } from './folder.js';

export class S3WatcherConfigError extends Error {
  override readonly name = 'S3WatcherConfigError';
}

/** `opts.cipher`: the key the connection's secrets were stored with (default UPDRAFT_FERNET_KEY). */
export async function s3ClientFor(
  db: Kysely<Database>,
  spec: S3PrefixWatcherSpec,
  opts: CipherOption = {},
): Promise<S3Client> {
  let endpoint = spec.endpoint;
  let region = spec.region;
  let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  if (spec.aws_conn_id !== null) {
    const conn = await getConnection(db, spec.aws_conn_id, opts);
    if (conn === undefined) {
      throw new S3WatcherConfigError(
        `watcher '${spec.name}': connection '${spec.aws_conn_id}' does not exist; add it with \`updraft connections add ${spec.aws_conn_id} --conn-type aws --conn-login <access key id> --conn-password <secret>\``,
      );
    }
    let extra: Record<string, unknown> = {};
    try {
      extra = conn.extra ? (JSON.parse(conn.extra) as Record<string, unknown>) : {};
    } catch {
      throw new S3WatcherConfigError(
        `watcher '${spec.name}': connection '${spec.aws_conn_id}' has an extra that is not JSON`,
      );
    }
    if (conn.login && conn.password) credentials = { accessKeyId: conn.login, secretAccessKey: conn.password };
    endpoint ??= typeof extra['endpoint_url'] === 'string' ? extra['endpoint_url'] : null;
    region ??= typeof extra['region_name'] === 'string' ? extra['region_name'] : null;
  }
  return new S3Client({
    region: region ?? 'us-east-1',
    ...(endpoint !== null ? { endpoint } : {}),
    forcePathStyle: spec.force_path_style ?? endpoint !== null,
    ...(credentials ? { credentials } : {}),
  });
}

export async function listS3Prefix(client: S3Client, spec: S3PrefixWatcherSpec): Promise<Listing> {
  const items: Listing['items'] = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await client.send(
      new ListObjectsV2Command({ Bucket: spec.bucket, Prefix: spec.prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      // A "folder" marker is not an object anyone writes data to.
      if (o.Key === undefined || (o.Key.endsWith('/') && (o.Size ?? 0) === 0)) continue;
      const etag = (o.ETag ?? '').replace(/^"|"$/g, '');
      items.push({
        key: o.Key,
        version: etag !== '' ? etag : `${o.LastModified?.getTime() ?? 0}:${o.Size ?? 0}`,
        extra: {
          bucket: spec.bucket,
          key: o.Key,
          etag,
          size: o.Size ?? 0,
          last_modified: o.LastModified?.toISOString() ?? null,
        },
        ready: true,
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return { items, complete: true };
}
