import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { copyHashing, hashBytes, hashFile } from './hash.js';
import {
  ArtifactHashMismatchError,
  ArtifactMissingError,
  keyFor,
  type ArtifactStore,
  type PutResult,
} from './store.js';

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket (no leading or trailing '/'); '' for none. */
  readonly prefix?: string;
  /** An S3-compatible endpoint (MinIO, versitygw, ...); unset: AWS. Implies path-style addressing. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Explicit keys; unset: the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, ...). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  /** A ready client (tests, custom retry settings); wins over endpoint/region/credentials. */
  readonly client?: S3Client;
}

/**
 * An S3-compatible bucket as the artifact store: `s3://<bucket>/<prefix>/sha256/ab/<hex>`.
 *
 * put() hashes the file first (the key is its hash), skips the upload when the object exists
 * with that size, and otherwise uploads it with its SHA-256 checksum, so the server refuses the
 * body if the file changed after it was hashed. Objects up to 5 GiB (one PutObject; multipart
 * uploads are not built). get() verifies the hash of what it downloaded before the destination
 * file appears.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    const config: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint, forcePathStyle: true }),
      ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
      // The SDK's automatic CRC32 checksums are not understood by every S3-compatible server; we
      // send SHA-256 ourselves where it matters.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    this.client = opts.client ?? new S3Client(config);
  }

  keyOf(sha256: string): string {
    return this.prefix === '' ? keyFor(sha256) : `${this.prefix}/${keyFor(sha256)}`;
  }

  uriFor(sha256: string): string {
    return `s3://${this.bucket}/${this.keyOf(sha256)}`;
  }

  async put(file: string): Promise<PutResult> {
    const { sha256, size } = await hashFile(file);
    return this.#upload(sha256, size, () => createReadStream(file));
  }

  async putBytes(bytes: Uint8Array): Promise<PutResult> {
    return this.#upload(hashBytes(bytes), bytes.byteLength, () => bytes);
  }

  async get(sha256: string, destFile: string): Promise<void> {
    const key = this.keyOf(sha256);
    let body: unknown;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = out.Body;
    } catch (err) {
      if (isNotFound(err)) throw new ArtifactMissingError(sha256, this.uriFor(sha256));
      throw err;
    }
    if (!(body instanceof Readable)) throw new Error(`S3 GetObject ${this.uriFor(sha256)} returned no readable body`);
    await mkdir(path.dirname(destFile), { recursive: true });
    const partial = `${destFile}.${randomBytes(6).toString('hex')}.partial`;
    try {
      const got = await copyHashing(body, partial);
      if (got.sha256 !== sha256) throw new ArtifactHashMismatchError(sha256, got.sha256, this.uriFor(sha256));
      await rename(partial, destFile);
    } finally {
      await rm(partial, { force: true });
    }
  }

  async exists(sha256: string): Promise<boolean> {
    return (await this.stat(sha256)) !== null;
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async #upload(sha256: string, size: number, body: () => Readable | Uint8Array): Promise<PutResult> {
    const uri = this.uriFor(sha256);
    const existing = await this.stat(sha256);
    // Same key, same size: the same bytes (the key is their hash). A size that differs means a
    // corrupt object, which is overwritten with the right bytes.
    if (existing !== null && existing.size === size) return { sha256, size, uri, created: false };
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(sha256),
        Body: body(),
        ContentLength: size,
        ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
        Metadata: { sha256 },
      }),
    );
    return { sha256, size, uri, created: true };
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
