/**
 * OpenLineage RunEvents (spec 2-0-2) for DAG runs and task tries, built from plain data; pure
 * (no I/O, no clock). What Airflow's OpenLineage provider emits: a DAG run is a job `<dag_id>`,
 * a task try a job `<dag_id>.<task_id>` whose `parent` facet names the DAG run; START then
 * COMPLETE or FAIL; `nominalTime` from the data interval; `errorMessage` on FAIL; inputs and
 * outputs from the try's lineage events. Run ids are deterministic (UUID v5 of the DAG run or the
 * try), so a re-emitted event names the same run. See docs/lineage.md#openlineage.
 */
import { createHash } from 'node:crypto';

export const RUN_EVENT_SCHEMA_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
export const FACET_SCHEMA_URLS = {
  parent: 'https://openlineage.io/spec/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet',
  nominalTime: 'https://openlineage.io/spec/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet',
  errorMessage: 'https://openlineage.io/spec/facets/1-0-0/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet',
} as const;

export const DEFAULT_NAMESPACE = 'updraft';
export const DEFAULT_PRODUCER = 'urn:updraft';

/** Run ids are UUID v5 in this namespace (a fixed, random UUID: it only has to be ours). */
export const RUN_ID_NAMESPACE = '3b7c3f0e-5f8e-4f1e-9b0a-6f2d1c8e7a41';

export const RUN_EVENT_TYPES = ['START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER'] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

export interface BaseFacet {
  readonly _producer: string;
  readonly _schemaURL: string;
}

export interface ParentRunFacet extends BaseFacet {
  readonly run: { readonly runId: string };
  readonly job: { readonly namespace: string; readonly name: string };
}

export interface NominalTimeRunFacet extends BaseFacet {
  readonly nominalStartTime: string;
  readonly nominalEndTime?: string;
}

export interface ErrorMessageRunFacet extends BaseFacet {
  readonly message: string;
  readonly programmingLanguage: string;
  readonly stackTrace?: string;
}

export interface RunFacets {
  parent?: ParentRunFacet;
  nominalTime?: NominalTimeRunFacet;
  errorMessage?: ErrorMessageRunFacet;
}

export interface OpenLineageDataset {
  readonly namespace: string;
  readonly name: string;
}

export interface RunEvent {
  readonly eventType: RunEventType;
  readonly eventTime: string;
  readonly run: { readonly runId: string; readonly facets?: RunFacets };
  readonly job: { readonly namespace: string; readonly name: string };
  readonly inputs: OpenLineageDataset[];
  readonly outputs: OpenLineageDataset[];
  readonly producer: string;
  readonly schemaURL: string;
}

export interface EmitterSettings {
  /** The jobs' namespace (UPDRAFT_OPENLINEAGE_NAMESPACE, default `updraft`). */
  readonly namespace: string;
  /** A URI naming the producer, in `producer` and every facet's `_producer`. */
  readonly producer: string;
}

export interface RunError {
  /** Already masked: the caller removes secrets before the message leaves the worker. */
  readonly message: string;
  readonly stackTrace?: string;
  /** What the failing code ran as (`python`, `R`, `TypeScript`, ...); default `unknown`. */
  readonly programmingLanguage?: string;
}

type Time = Date | string;

export interface DagRunEventInput {
  readonly eventType: RunEventType;
  readonly eventTime: Time;
  readonly dagId: string;
  readonly runId: string;
  /** The data interval (Airflow's nominal time); omitted when the run has none. */
  readonly nominalStartTime?: Time | null;
  readonly nominalEndTime?: Time | null;
  readonly error?: RunError | null;
}

export interface TaskTryEventInput extends DagRunEventInput {
  readonly taskId: string;
  readonly mapIndex: number;
  readonly tryNumber: number;
  /** Store uris of the artifacts the try consumed / produced (see datasetFromUri). */
  readonly inputs?: readonly string[];
  readonly outputs?: readonly string[];
}

/** Longest error message an event carries; the rest is in the task log. */
export const MAX_ERROR_MESSAGE = 8000;

/** UUID v5 (RFC 4122, SHA-1 name-based) of `name` in `namespace`. */
export function uuidV5(name: string, namespace = RUN_ID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`uuidV5: namespace must be a UUID, got "${namespace}"`);
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The OpenLineage run id of a DAG run. */
export function dagRunUuid(dagId: string, runId: string): string {
  return uuidV5(JSON.stringify(['dag_run', dagId, runId]));
}

/** The OpenLineage run id of one try of a (mapped) task instance. */
export function taskTryUuid(dagId: string, runId: string, taskId: string, mapIndex: number, tryNumber: number): string {
  return uuidV5(JSON.stringify(['task_try', dagId, runId, taskId, mapIndex, tryNumber]));
}

/**
 * An artifact's store uri as an OpenLineage dataset: namespace = scheme://authority (`s3://bucket`;
 * `file` for a local path, which has no authority), name = the path within it (the store key).
 */
export function datasetFromUri(uri: string): OpenLineageDataset {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { namespace: 'unknown', name: uri };
  }
  const scheme = url.protocol.replace(/:$/, '');
  const name = decodeURIComponent(url.pathname);
  if (url.host === '') return { namespace: scheme, name };
  return { namespace: `${scheme}://${url.host}`, name: name.replace(/^\//, '') };
}

function iso(t: Time): string {
  const d = typeof t === 'string' ? new Date(t) : t;
  if (Number.isNaN(d.getTime())) throw new Error(`OpenLineage: not a time: ${String(t)}`);
  return d.toISOString();
}

function commonFacets(s: EmitterSettings, input: DagRunEventInput): RunFacets {
  const facets: RunFacets = {};
  if (input.nominalStartTime !== undefined && input.nominalStartTime !== null) {
    facets.nominalTime = {
      _producer: s.producer,
      _schemaURL: FACET_SCHEMA_URLS.nominalTime,
      nominalStartTime: iso(input.nominalStartTime),
      ...(input.nominalEndTime === undefined || input.nominalEndTime === null
        ? {}
        : { nominalEndTime: iso(input.nominalEndTime) }),
    };
  }
  if (input.error !== undefined && input.error !== null) {
    facets.errorMessage = {
      _producer: s.producer,
      _schemaURL: FACET_SCHEMA_URLS.errorMessage,
      message:
        input.error.message.length > MAX_ERROR_MESSAGE
          ? `${input.error.message.slice(0, MAX_ERROR_MESSAGE)}…`
          : input.error.message,
      programmingLanguage: input.error.programmingLanguage ?? 'unknown',
      ...(input.error.stackTrace === undefined ? {} : { stackTrace: input.error.stackTrace }),
    };
  }
  return facets;
}

/** The event of a DAG run (job `<dag_id>`). */
export function dagRunEvent(s: EmitterSettings, input: DagRunEventInput): RunEvent {
  const facets = commonFacets(s, input);
  return {
    eventType: input.eventType,
    eventTime: iso(input.eventTime),
    run: { runId: dagRunUuid(input.dagId, input.runId), ...(Object.keys(facets).length === 0 ? {} : { facets }) },
    job: { namespace: s.namespace, name: input.dagId },
    inputs: [],
    outputs: [],
    producer: s.producer,
    schemaURL: RUN_EVENT_SCHEMA_URL,
  };
}

/** The event of a task try (job `<dag_id>.<task_id>`, parent = the DAG run). */
export function taskTryEvent(s: EmitterSettings, input: TaskTryEventInput): RunEvent {
  const facets: RunFacets = {
    parent: {
      _producer: s.producer,
      _schemaURL: FACET_SCHEMA_URLS.parent,
      run: { runId: dagRunUuid(input.dagId, input.runId) },
      job: { namespace: s.namespace, name: input.dagId },
    },
    ...commonFacets(s, input),
  };
  return {
    eventType: input.eventType,
    eventTime: iso(input.eventTime),
    run: { runId: taskTryUuid(input.dagId, input.runId, input.taskId, input.mapIndex, input.tryNumber), facets },
    job: { namespace: s.namespace, name: `${input.dagId}.${input.taskId}` },
    inputs: uniqueDatasets(input.inputs ?? []),
    outputs: uniqueDatasets(input.outputs ?? []),
    producer: s.producer,
    schemaURL: RUN_EVENT_SCHEMA_URL,
  };
}

function uniqueDatasets(uris: readonly string[]): OpenLineageDataset[] {
  const seen = new Map<string, OpenLineageDataset>();
  for (const uri of uris) {
    const d = datasetFromUri(uri);
    seen.set(`${d.namespace}\u0000${d.name}`, d);
  }
  return [...seen.values()];
}
