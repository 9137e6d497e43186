/** Small builders for the ML record tests: artifacts with real sha256 hashes of their names. */
import { createHash } from 'node:crypto';
import type { ArtifactType } from '../../db/database.js';
import type { ExecutionKey, LineageArtifactInput } from '../../db/lineage.repository.js';

export function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** An artifact whose bytes are its name (so the hash is stable and distinct per name). */
export function art(name: string, type: ArtifactType, format: string | null = null): LineageArtifactInput {
  const sha256 = sha(name);
  return {
    sha256,
    uri: `file:///store/sha256/${sha256.slice(0, 2)}/${sha256}`,
    name,
    type,
    format,
    size: Buffer.byteLength(name),
  };
}

export function tryKey(run_id: string, task_id: string, try_number = 1, dag_id = 'iris'): ExecutionKey {
  return { dag_id, run_id, task_id, map_index: -1, try_number };
}
