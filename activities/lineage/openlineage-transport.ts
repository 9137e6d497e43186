/**
 * Where OpenLineage events go: a JSONL file and/or an HTTP endpoint (Marquez and other consumers:
 * POST <url>/api/v1/lineage). Emitting never fails the caller: a transport that cannot deliver
 * logs a warning and the task goes on. Configured from the environment (docs/lineage.md):
 *   UPDRAFT_OPENLINEAGE_FILE       append one event per line to this file
 *   UPDRAFT_OPENLINEAGE_URL        base URL of an OpenLineage HTTP consumer
 *   UPDRAFT_OPENLINEAGE_ENDPOINT   path under it (default api/v1/lineage)
 *   UPDRAFT_OPENLINEAGE_API_KEY    sent as `Authorization: Bearer ...` (never logged)
 *   UPDRAFT_OPENLINEAGE_TIMEOUT_MS HTTP timeout (default 5000)
 *   UPDRAFT_OPENLINEAGE_NAMESPACE  the jobs' namespace (default updraft)
 *   UPDRAFT_OPENLINEAGE_PRODUCER   the producer URI (default urn:updraft)
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_PRODUCER,
  dagRunEvent,
  taskTryEvent,
  type DagRunEventInput,
  type EmitterSettings,
  type RunEvent,
  type TaskTryEventInput,
} from './openlineage.js';

export type Warn = (message: string) => void;

const defaultWarn: Warn = (message) => console.warn(`[openlineage] ${message}`);

export interface OpenLineageTransport {
  readonly name: string;
  /** Delivers one event; resolves whether or not delivery worked (failures are logged). */
  emit(event: RunEvent): Promise<void>;
}

/** Appends each event as one JSON line. Appends are serialized, so lines never interleave. */
export class JsonlFileTransport implements OpenLineageTransport {
  readonly name: string;
  #tail: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly warn: Warn = defaultWarn,
  ) {
    this.name = `file ${file}`;
  }

  emit(event: RunEvent): Promise<void> {
    const line = `${JSON.stringify(event)}\n`;
    this.#tail = this.#tail.then(async () => {
      try {
        await mkdir(path.dirname(this.file), { recursive: true });
        await appendFile(this.file, line, 'utf8');
      } catch (err) {
        this.warn(
          `could not append a ${event.eventType} event for ${event.job.name} to ${this.file}: ${(err as Error).message}`,
        );
      }
    });
    return this.#tail;
  }
}

export interface HttpTransportOptions {
  /** Path under the base URL; default `api/v1/lineage`. */
  readonly endpoint?: string;
  readonly apiKey?: string;
  readonly timeoutMs?: number;
  readonly warn?: Warn;
}

/** POSTs each event as JSON. A non-2xx answer, a timeout or a refused connection is logged. */
export class HttpTransport implements OpenLineageTransport {
  readonly name: string;
  readonly url: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #warn: Warn;

  constructor(baseUrl: string, opts: HttpTransportOptions = {}) {
    const endpoint = (opts.endpoint ?? 'api/v1/lineage').replace(/^\/+/, '');
    this.url = new URL(endpoint, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
    this.name = `http ${this.url}`;
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#warn = opts.warn ?? defaultWarn;
  }

  async emit(event: RunEvent): Promise<void> {
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.#apiKey === undefined ? {} : { authorization: `Bearer ${this.#apiKey}` }),
        },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (!res.ok) {
        const body = (await res.text().catch(() => '')).slice(0, 200);
        this.#warn(
          `${this.url} answered HTTP ${res.status} to a ${event.eventType} event for ${event.job.name}${body === '' ? '' : `: ${body}`}`,
        );
      } else {
        await res.arrayBuffer().catch(() => undefined);
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${this.#timeoutMs} ms`
          : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
      this.#warn(`could not POST a ${event.eventType} event for ${event.job.name} to ${this.url}: ${why}`);
    }
  }
}

/** Builds events and hands each to every transport; never rejects. */
export class OpenLineageEmitter {
  constructor(
    readonly settings: EmitterSettings,
    readonly transports: readonly OpenLineageTransport[],
    private readonly warn: Warn = defaultWarn,
  ) {}

  async emit(event: RunEvent): Promise<void> {
    await Promise.all(
      this.transports.map((t) =>
        t
          .emit(event)
          .catch((err: unknown) =>
            this.warn(`transport ${t.name} failed: ${err instanceof Error ? err.message : String(err)}`),
          ),
      ),
    );
  }

  /** Builds and emits a DAG-run event; a builder error (a bad time) is logged, not thrown. */
  async emitDagRun(input: DagRunEventInput): Promise<void> {
    let event: RunEvent;
    try {
      event = dagRunEvent(this.settings, input);
    } catch (err) {
      this.warn(
        `could not build a ${input.eventType} event for DAG run ${input.dagId}/${input.runId}: ${(err as Error).message}`,
      );
      return;
    }
    await this.emit(event);
  }

  async emitTaskTry(input: TaskTryEventInput): Promise<void> {
    let event: RunEvent;
    try {
      event = taskTryEvent(this.settings, input);
    } catch (err) {
      this.warn(
        `could not build a ${input.eventType} event for ${input.dagId}.${input.taskId} try ${input.tryNumber}: ${(err as Error).message}`,
      );
      return;
    }
    await this.emit(event);
  }
}

export class OpenLineageConfigError extends Error {
  override readonly name = 'OpenLineageConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** The emitter the environment asks for, or null when neither a file nor a URL is configured. */
export function openLineageFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  warn: Warn = defaultWarn,
  cwd = process.cwd(),
): OpenLineageEmitter | null {
  const transports: OpenLineageTransport[] = [];
  const file = env['UPDRAFT_OPENLINEAGE_FILE'];
  if (file) transports.push(new JsonlFileTransport(path.resolve(cwd, file), warn));
  const url = env['UPDRAFT_OPENLINEAGE_URL'];
  if (url) {
    if (!/^https?:\/\/[^/]+/.test(url))
      throw new OpenLineageConfigError(
        'UPDRAFT_OPENLINEAGE_URL',
        `expected http(s)://host[:port][/path], got "${url}"`,
      );
    const rawTimeout = env['UPDRAFT_OPENLINEAGE_TIMEOUT_MS'];
    const timeoutMs = rawTimeout ? Number(rawTimeout) : 5000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new OpenLineageConfigError(
        'UPDRAFT_OPENLINEAGE_TIMEOUT_MS',
        `expected a positive integer (milliseconds), got "${rawTimeout}"`,
      );
    }
    transports.push(
      new HttpTransport(url, {
        ...(env['UPDRAFT_OPENLINEAGE_ENDPOINT'] ? { endpoint: env['UPDRAFT_OPENLINEAGE_ENDPOINT'] } : {}),
        ...(env['UPDRAFT_OPENLINEAGE_API_KEY'] ? { apiKey: env['UPDRAFT_OPENLINEAGE_API_KEY'] } : {}),
        timeoutMs,
        warn,
      }),
    );
  }
  if (transports.length === 0) return null;
  const producer = env['UPDRAFT_OPENLINEAGE_PRODUCER'] || DEFAULT_PRODUCER;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(producer))
    throw new OpenLineageConfigError('UPDRAFT_OPENLINEAGE_PRODUCER', `expected a URI, got "${producer}"`);
  return new OpenLineageEmitter(
    { namespace: env['UPDRAFT_OPENLINEAGE_NAMESPACE'] || DEFAULT_NAMESPACE, producer },
    transports,
    warn,
  );
}
