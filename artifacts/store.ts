/**
 * The artifact store: content-addressed bytes (datasets, models, reports) that steps write and
 * read, keyed by their sha256 as `sha256/<first 2 hex>/<64 hex>`. The same bytes written twice are
 * stored once. Reads verify the hash before the file reaches its destination. Two kinds: a local
 * folder (the default) and an S3-compatible bucket (for workers on several machines).
 */

export interface PutResult {
  readonly sha256: string;
  readonly size: number;
  /** Where the bytes are: `file:///...` or `s3://bucket/key`. */
  readonly uri: string;
  /** False when the store already held these bytes. */
  readonly created: boolean;
}

export interface ArtifactStore {
  readonly kind: 'local' | 's3';
  /** Stores a file's bytes (read once, hashed while read). */
  put(file: string): Promise<PutResult>;
  putBytes(bytes: Uint8Array): Promise<PutResult>;
  /** Writes the bytes to `destFile` (replacing it) after checking their sha256. */
  get(sha256: string, destFile: string): Promise<void>;
  exists(sha256: string): Promise<boolean>;
  stat(sha256: string): Promise<{ size: number } | null>;
  /** The uri `put` returns for these bytes. */
  uriFor(sha256: string): string;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(value: string): boolean {
  return SHA256.test(value);
}

/** The store key of a hash: `sha256/ab/ab12...`. */
export function keyFor(sha256: string): string {
  if (!isSha256(sha256))
    throw new ArtifactStoreInputError('sha256', `expected 64 lowercase hex characters, got ${JSON.stringify(sha256)}`);
  return `sha256/${sha256.slice(0, 2)}/${sha256}`;
}

export class ArtifactStoreInputError extends Error {
  override readonly name = 'ArtifactStoreInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The store holds no object for this hash. */
export class ArtifactMissingError extends Error {
  override readonly name = 'ArtifactMissingError';
  constructor(
    readonly sha256: string,
    readonly location: string,
  ) {
    super(
      `artifact ${sha256} is not in the store (${location}); was it written to another store? check UPDRAFT_ARTIFACT_STORE`,
    );
  }
}

/** The bytes read back do not hash to their key: the stored object is corrupt or was replaced. */
export class ArtifactHashMismatchError extends Error {
  override readonly name = 'ArtifactHashMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly location: string,
  ) {
    super(
      `artifact ${location} hashes to ${actual}, not ${expected}: the stored bytes are corrupt; nothing was written to the destination`,
    );
  }
}

/** UPDRAFT_ARTIFACT_STORE and friends could not be understood. */
export class ArtifactStoreConfigError extends Error {
  override readonly name = 'ArtifactStoreConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}
