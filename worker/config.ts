/**
 * Configuration from the environment, in one place. Every setting has a default that runs the
 * embedded stack (`temporal` dev server + PGlite under .updraft/).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../workflows/types.js';
import { parseArtifactStoreLocation, type ArtifactStoreLocation } from '../artifacts/index.js';

export interface UpdraftConfig {
  /** Project home for embedded state (PGlite, Temporal SQLite, logs). */
  home: string;
  dagsFolder: string;
  /** How long one DAG file's top-level code may run when the DAG bag loads it (UPDRAFT_DAGBAG_IMPORT_TIMEOUT, seconds). */
  dagbagImportTimeoutSeconds: number;
  /** The DAG processor bundles the known DAG files again this often (UPDRAFT_MIN_FILE_PROCESS_INTERVAL, seconds). */
  minFileProcessIntervalSeconds: number;
  /** ... and lists the folder for new and removed files this often (UPDRAFT_DAG_DIR_LIST_INTERVAL, seconds). */
  dagDirListIntervalSeconds: number;
  /** ... and refreshes at once on file-system events in the folder (UPDRAFT_DAGS_FOLDER_WATCH). */
  dagsFolderWatch: boolean;
  /** A new DAG without isPausedUponCreation starts paused (UPDRAFT_DAGS_ARE_PAUSED_AT_CREATION; Airflow's default is true, Updraft's false). */
  dagsArePausedAtCreation: boolean;
  /** Run the worker's scheduler: one Temporal Schedule per scheduled DAG (UPDRAFT_SCHEDULER). */
  scheduler: boolean;
  logsFolder: string;
  /** Postgres URL; unset means PGlite under home. */
  databaseUrl: string | null;
  pglitePath: string;
  /**
   * `updraft dev` serves PGlite (one session) in turns: a client that holds it idle in a
   * transaction this long while others wait is disconnected (UPDRAFT_PGLITE_IDLE_IN_TRANSACTION_TIMEOUT, seconds).
   */
  pgliteIdleInTransactionTimeoutSeconds: number;
  /** Temporal frontend; unset means the embedded dev server. */
  temporalAddress: string | null;
  namespace: string;
  taskQueue: string;
  devTemporalPort: number;
  devUiPort: number;
  run: RunOptions;
  containers: ContainerConfig;
  assets: AssetRunConfig;
  ml: MlConfig;
}

/** Data-aware runs and asset watchers in the worker; see docs/assets.md. */
export interface AssetRunConfig {
  /**
   * Longest wait between two looks for due asset-triggered runs when nothing wakes the worker
   * (UPDRAFT_ASSET_POLL_INTERVAL_MS). null: 250 ms without Postgres notifications (PGlite), 5 s
   * with them (then the poll only covers a notification lost while reconnecting).
   */
  pollIntervalMs: number | null;
  /** A claimed run not started after this long is started by any worker (UPDRAFT_ASSET_REDRIVE_AFTER_SECONDS). */
  redriveAfterSeconds: number;
}

/** Step outputs and the ML record; see docs/step-outputs.md and docs/lineage.md. */
export interface MlConfig {
  /** UPDRAFT_ARTIFACT_STORE: a local folder (default <home>/artifacts) or s3://bucket/prefix. */
  artifactStore: ArtifactStoreLocation;
  /** UPDRAFT_S3_ENDPOINT: an S3-compatible endpoint; null: AWS. */
  s3Endpoint: string | null;
  /** AWS_REGION (or AWS_DEFAULT_REGION), default us-east-1. */
  s3Region: string;
  /** UPDRAFT_OPENLINEAGE_FILE: append OpenLineage events to this JSONL file; null: none. */
  openLineageFile: string | null;
  /** UPDRAFT_OPENLINEAGE_URL: POST OpenLineage events to <url>/api/v1/lineage; null: none. */
  openLineageUrl: string | null;
  /** UPDRAFT_OPENLINEAGE_NAMESPACE, default updraft. */
  openLineageNamespace: string;
}

/** Where container tasks run; see docs/containers.md and docs/kubernetes.md. */
export interface ContainerConfig {
  /** Runtime for container tasks that name none. */
  defaultRuntime: 'docker' | 'kubernetes';
  /** Docker daemon socket; null: DOCKER_HOST or /var/run/docker.sock. */
  dockerSocket: string | null;
  dockerStopGraceSeconds: number;
  kubeconfig: string | null;
  kubeContext: string | null;
  kubeNamespace: string;
  kubePendingTimeoutSeconds: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

function boolEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(true|1|yes|on)$/i.test(raw)) return true;
  if (/^(false|0|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function runtimeEnv(env: NodeJS.ProcessEnv): 'docker' | 'kubernetes' {
  const raw = env.UPDRAFT_CONTAINER_RUNTIME || 'docker';
  if (raw !== 'docker' && raw !== 'kubernetes')
    throw new ConfigError(`UPDRAFT_CONTAINER_RUNTIME must be "docker" or "kubernetes", got "${raw}"`);
  return raw;
}

function mlConfig(env: NodeJS.ProcessEnv, home: string, cwd: string): MlConfig {
  let artifactStore: ArtifactStoreLocation;
  try {
    artifactStore = parseArtifactStoreLocation(env.UPDRAFT_ARTIFACT_STORE, home, cwd);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const s3Endpoint = env.UPDRAFT_S3_ENDPOINT || null;
  if (s3Endpoint !== null && !/^https?:\/\/[^/]+/.test(s3Endpoint))
    throw new ConfigError(`UPDRAFT_S3_ENDPOINT must be http(s)://host[:port], got "${s3Endpoint}"`);
  const openLineageUrl = env.UPDRAFT_OPENLINEAGE_URL || null;
  if (openLineageUrl !== null && !/^https?:\/\/[^/]+/.test(openLineageUrl)) {
    throw new ConfigError(`UPDRAFT_OPENLINEAGE_URL must be http(s)://host[:port][/path], got "${openLineageUrl}"`);
  }
  return {
    artifactStore,
    s3Endpoint,
    s3Region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    openLineageFile: env.UPDRAFT_OPENLINEAGE_FILE ? path.resolve(cwd, env.UPDRAFT_OPENLINEAGE_FILE) : null,
    openLineageUrl,
    openLineageNamespace: env.UPDRAFT_OPENLINEAGE_NAMESPACE || 'updraft',
  };
}

/** What a step that talks to the store itself needs (a Kubernetes pod): where it is, never credentials. */
export function artifactStoreEnv(ml: MlConfig): Record<string, string> {
  const loc = ml.artifactStore;
  if (loc.kind === 'local') return { UPDRAFT_ARTIFACT_STORE: pathToFileURL(loc.root).href };
  return {
    UPDRAFT_ARTIFACT_STORE: `s3://${loc.bucket}${loc.prefix === '' ? '' : `/${loc.prefix}`}`,
    AWS_REGION: ml.s3Region,
    ...(ml.s3Endpoint === null ? {} : { UPDRAFT_S3_ENDPOINT: ml.s3Endpoint }),
  };
}

/**
 * The worker's S3 keys, for steps that use the store themselves (Kubernetes pods): the executor puts
 * them into a Secret and the pod's env refers to it, so they are in no Job spec, argv or log. Empty
 * for a local store, and when the worker has no explicit keys (the SDK's default chain: the pods
 * need their own identity then).
 */
export function artifactStoreCredentialEnv(ml: MlConfig, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (ml.artifactStore.kind !== 's3') return {};
  const keyId = env.AWS_ACCESS_KEY_ID || '';
  const secret = env.AWS_SECRET_ACCESS_KEY || '';
  if (keyId === '' || secret === '') return {};
  return {
    AWS_ACCESS_KEY_ID: keyId,
    AWS_SECRET_ACCESS_KEY: secret,
    ...(env.AWS_SESSION_TOKEN ? { AWS_SESSION_TOKEN: env.AWS_SESSION_TOKEN } : {}),
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): UpdraftConfig {
  const home = path.resolve(cwd, env.UPDRAFT_HOME ?? '.updraft');
  const taskQueue = env.UPDRAFT_TASK_QUEUE || DEFAULT_RUN_OPTIONS.taskQueue;
  return {
    home,
    dagsFolder: path.resolve(cwd, env.UPDRAFT_DAGS_FOLDER || 'dags'),
    dagbagImportTimeoutSeconds: intEnv(env, 'UPDRAFT_DAGBAG_IMPORT_TIMEOUT', 30),
    // Airflow's [dag_processor] min_file_process_interval and refresh_interval (dag_dir_list_interval).
    minFileProcessIntervalSeconds: intEnv(env, 'UPDRAFT_MIN_FILE_PROCESS_INTERVAL', 30),
    dagDirListIntervalSeconds: intEnv(env, 'UPDRAFT_DAG_DIR_LIST_INTERVAL', 300),
    dagsFolderWatch: boolEnv(env, 'UPDRAFT_DAGS_FOLDER_WATCH', true),
    dagsArePausedAtCreation: boolEnv(env, 'UPDRAFT_DAGS_ARE_PAUSED_AT_CREATION', false),
    scheduler: boolEnv(env, 'UPDRAFT_SCHEDULER', true),
    logsFolder: path.resolve(cwd, env.UPDRAFT_LOGS_FOLDER ?? path.join(home, 'logs')),
    databaseUrl: env.DATABASE_URL || null,
    pglitePath: path.join(home, 'pglite'),
    pgliteIdleInTransactionTimeoutSeconds: intEnv(env, 'UPDRAFT_PGLITE_IDLE_IN_TRANSACTION_TIMEOUT', 60),
    temporalAddress: env.TEMPORAL_ADDRESS || null,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue,
    devTemporalPort: intEnv(env, 'UPDRAFT_DEV_TEMPORAL_PORT', 7233),
    devUiPort: intEnv(env, 'UPDRAFT_DEV_UI_PORT', 8233),
    run: {
      ...DEFAULT_RUN_OPTIONS,
      taskQueue,
      heartbeatTimeoutSeconds: intEnv(
        env,
        'UPDRAFT_HEARTBEAT_TIMEOUT_SECONDS',
        DEFAULT_RUN_OPTIONS.heartbeatTimeoutSeconds,
      ),
      maxInFlight: intEnv(env, 'UPDRAFT_MAX_IN_FLIGHT_PER_RUN', DEFAULT_RUN_OPTIONS.maxInFlight),
    },
    containers: {
      defaultRuntime: runtimeEnv(env),
      dockerSocket:
        env.UPDRAFT_DOCKER_SOCKET ||
        (env.DOCKER_HOST?.startsWith('unix://') ? env.DOCKER_HOST.slice('unix://'.length) : null),
      dockerStopGraceSeconds: intEnv(env, 'UPDRAFT_DOCKER_STOP_GRACE_SECONDS', 10),
      kubeconfig: env.KUBECONFIG || null,
      kubeContext: env.UPDRAFT_K8S_CONTEXT || null,
      kubeNamespace: env.UPDRAFT_K8S_NAMESPACE || 'default',
      kubePendingTimeoutSeconds: intEnv(env, 'UPDRAFT_K8S_PENDING_TIMEOUT_SECONDS', 300),
    },
    assets: {
      pollIntervalMs: env.UPDRAFT_ASSET_POLL_INTERVAL_MS ? intEnv(env, 'UPDRAFT_ASSET_POLL_INTERVAL_MS', 0) : null,
      redriveAfterSeconds: intEnv(env, 'UPDRAFT_ASSET_REDRIVE_AFTER_SECONDS', 30),
    },
    ml: mlConfig(env, home, cwd),
  };
}
