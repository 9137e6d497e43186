import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalArtifactStore } from './local-store.js';
import { S3ArtifactStore } from './s3-store.js';
import { ArtifactStoreConfigError, type ArtifactStore } from './store.js';

/**
 * The artifact store from the environment (docs/lineage.md#artifact-store):
 *   UPDRAFT_ARTIFACT_STORE   unset: <UPDRAFT_HOME>/artifacts; `file:///abs/path` (or a plain path);
 *                            `s3://bucket[/prefix]`
 *   UPDRAFT_S3_ENDPOINT      an S3-compatible endpoint (http://host:port); unset: AWS
 *   AWS_REGION               (or AWS_DEFAULT_REGION) default us-east-1
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   both or neither (neither: the SDK's default chain)
 */

export type ArtifactStoreLocation =
  | { readonly kind: 'local'; readonly root: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

const VAR = 'UPDRAFT_ARTIFACT_STORE';
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseArtifactStoreLocation(
  value: string | undefined,
  home: string,
  cwd = process.cwd(),
): ArtifactStoreLocation {
  if (value === undefined || value.trim() === '') return { kind: 'local', root: path.join(home, 'artifacts') };
  const v = value.trim();
  if (v.startsWith('s3://')) {
    const rest = v.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!BUCKET.test(bucket)) {
      throw new ArtifactStoreConfigError(
        VAR,
        `"${v}" names no valid bucket (expected s3://<bucket>[/<prefix>], bucket 3..63 of a-z 0-9 . -)`,
      );
    }
    return { kind: 's3', bucket, prefix };
  }
  if (v.startsWith('file://')) {
    let root: string;
    try {
      root = fileURLToPath(v);
    } catch (err) {
      throw new ArtifactStoreConfigError(
        VAR,
        `"${v}" is not a file URL with an absolute path (expected file:///abs/path): ${(err as Error).message}`,
      );
    }
    return { kind: 'local', root };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    throw new ArtifactStoreConfigError(
      VAR,
      `unsupported store "${v}" (expected file:///abs/path or s3://bucket[/prefix])`,
    );
  }
  return { kind: 'local', root: path.resolve(cwd, v) };
}

export interface ArtifactStoreFromEnvOptions {
  /** UPDRAFT_HOME, resolved; default: env.UPDRAFT_HOME or .updraft under cwd (as worker/config.ts). */
  readonly home?: string;
  readonly cwd?: string;
}

export function artifactStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  opts: ArtifactStoreFromEnvOptions = {},
): ArtifactStore {
  const cwd = opts.cwd ?? process.cwd();
  const home = opts.home ?? path.resolve(cwd, env['UPDRAFT_HOME'] ?? '.updraft');
  const location = parseArtifactStoreLocation(env[VAR], home, cwd);
  if (location.kind === 'local') return new LocalArtifactStore(location.root);
  const endpoint = env['UPDRAFT_S3_ENDPOINT'] || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new ArtifactStoreConfigError('UPDRAFT_S3_ENDPOINT', `expected http(s)://host[:port], got "${endpoint}"`);
  }
  const accessKeyId = env['AWS_ACCESS_KEY_ID'] || undefined;
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'] || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ArtifactStoreConfigError(
      accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY',
      'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use the SDK default credential chain)',
    );
  }
  return new S3ArtifactStore({
    bucket: location.bucket,
    prefix: location.prefix,
    region: env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || 'us-east-1',
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey } }
      : {}),
  });
}
