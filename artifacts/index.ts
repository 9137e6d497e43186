/** The artifact store (docs/lineage.md): content-addressed local folder and S3-compatible stores. */
export {
  ArtifactHashMismatchError,
  ArtifactMissingError,
  ArtifactStoreConfigError,
  ArtifactStoreInputError,
  isSha256,
  keyFor,
} from './store.js';
export type { ArtifactStore, PutResult } from './store.js';
export { LocalArtifactStore } from './local-store.js';
export { S3ArtifactStore } from './s3-store.js';
export type { S3StoreOptions } from './s3-store.js';
export { artifactStoreFromEnv, parseArtifactStoreLocation } from './config.js';
export type { ArtifactStoreLocation, ArtifactStoreFromEnvOptions } from './config.js';
export { hashBytes, hashFile } from './hash.js';
