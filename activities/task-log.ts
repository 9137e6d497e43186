/**
 * A try's log: lines go to Postgres (task_log, batched) and to a file under the logs folder in
 * Airflow's layout (dag_id=/run_id=/task_id=/attempt=N.log), so both `updraft tasks logs` and a
 * plain `tail -f` work. Lines are masked before they are stored anywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { appendTaskLogs } from '../db/task-log.repository.js';
import type { LogStream, TaskLogSink } from './executors/types.js';
import type { Masker } from '../secrets/masker.js';

/** What writing a try's (or callback's) log needs; runTask, runCallback and the control-flow activities share it. */
export interface TaskLogDeps {
  db: Kysely<Database>;
  /** Where log files go (null: the database only). */
  logsFolder: string | null;
  mask?: Masker;
}

export interface TaskLogKey {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
}

/** Path of a try's log file, Airflow-style. Ids are safe path segments (compiler-validated charset). */
export function taskLogPath(logsFolder: string, key: TaskLogKey): string {
  const mapPart = key.map_index >= 0 ? `map_index=${key.map_index}/` : '';
  return path.join(
    logsFolder,
    `dag_id=${key.dag_id}`,
    `run_id=${sanitize(key.run_id)}`,
    `task_id=${key.task_id}`,
    `${mapPart}attempt=${key.try_number}.log`,
  );
}

function sanitize(segment: string): string {
  return segment.replace(/[^A-Za-z0-9_.+:-]/g, '_');
}

export class TaskLogWriter implements TaskLogSink {
  private buffer: Array<{ ts: Date; stream: LogStream; line: string }> = [];
  private readonly recent: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly file: fs.WriteStream | null;
  private failed: Error | null = null;
  readonly filePath: string | null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly key: TaskLogKey,
    opts: { logsFolder: string | null; mask?: Masker; flushIntervalMs?: number },
  ) {
    this.mask = opts.mask ?? ((l) => l);
    this.filePath = opts.logsFolder ? taskLogPath(opts.logsFolder, key) : null;
    if (this.filePath) {
      fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
      this.file = fs.createWriteStream(this.filePath, { flags: 'a' });
    } else {
      this.file = null;
    }
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  private readonly mask: Masker;

  write(stream: LogStream, line: string): void {
    const masked = this.mask(line);
    const ts = new Date();
    this.buffer.push({ ts, stream, line: masked });
    this.recent.push(masked);
    if (this.recent.length > 200) this.recent.splice(0, this.recent.length - 100);
    this.file?.write(
      `[${ts.toISOString()}] ${stream === 'system' ? '{updraft} ' : stream === 'stderr' ? '{stderr} ' : ''}${masked}\n`,
    );
    if (this.buffer.length >= 500) void this.flush();
  }

  system(line: string): void {
    this.write('system', line);
  }

  redact(text: string): string {
    return this.mask(text);
  }

  tail(n: number): string[] {
    return this.recent.slice(-n);
  }

  /** Writes buffered lines; serialised so lines stay in order. */
  flush(): Promise<void> {
    if (this.buffer.length === 0) return this.flushing;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(async () => {
      try {
        await appendTaskLogs(
          this.db,
          batch.map((b) => ({ ...this.key, ts: b.ts, stream: b.stream, line: b.line })),
        );
      } catch (err) {
        // Keep the task running; the file still has the lines. Report once at close.
        this.failed ??= err as Error;
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.file) await new Promise<void>((resolve) => this.file!.end(resolve));
    if (this.failed) {
      throw new Error(
        `could not store the log of ${this.key.task_id} try ${this.key.try_number} in Postgres: ${this.failed.message}`,
      );
    }
  }
}
