import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyHashing, hashBytes } from './hash.js';
import {
  ArtifactHashMismatchError,
  ArtifactMissingError,
  keyFor,
  type ArtifactStore,
  type PutResult,
} from './store.js';

/**
 * A local folder store: `<root>/sha256/ab/<hex>`. Writes go to `<root>/tmp/` first (hashed while
 * copied, so the key is the hash of the bytes actually stored, even if the source changes), then
 * are hard-linked into place: link() fails when the key exists, which makes "stored once" and the
 * `created` flag exact under concurrent writers. Stored files are read-only (0444).
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly kind = 'local' as const;

  constructor(readonly root: string) {}

  uriFor(sha256: string): string {
    return pathToFileURL(this.pathFor(sha256)).href;
  }

  pathFor(sha256: string): string {
    return path.join(this.root, ...keyFor(sha256).split('/'));
  }

  async put(file: string): Promise<PutResult> {
    const tmp = await this.#tmpFile();
    try {
      const { sha256, size } = await copyHashing(createReadStream(file), tmp);
      return await this.#commit(tmp, sha256, size);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async putBytes(bytes: Uint8Array): Promise<PutResult> {
    const tmp = await this.#tmpFile();
    try {
      await writeFile(tmp, bytes, { mode: 0o644 });
      return await this.#commit(tmp, hashBytes(bytes), bytes.byteLength);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(sha256: string, destFile: string): Promise<void> {
    const source = this.pathFor(sha256);
    if ((await this.stat(sha256)) === null) throw new ArtifactMissingError(sha256, source);
    await mkdir(path.dirname(destFile), { recursive: true });
    const partial = `${destFile}.${randomBytes(6).toString('hex')}.partial`;
    try {
      const got = await copyHashing(createReadStream(source), partial);
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
      const s = await stat(this.pathFor(sha256));
      return { size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async #tmpFile(): Promise<string> {
    const dir = path.join(this.root, 'tmp');
    await mkdir(dir, { recursive: true });
    return path.join(dir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
  }

  async #commit(tmp: string, sha256: string, size: number): Promise<PutResult> {
    const dest = this.pathFor(sha256);
    await mkdir(path.dirname(dest), { recursive: true });
    await chmod(tmp, 0o444);
    let created = true;
    try {
      await link(tmp, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      created = false;
    }
    return { sha256, size, uri: this.uriFor(sha256), created };
  }
}
