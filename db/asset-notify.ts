/**
 * Listening for queued asset events on Postgres: a commit that queues an event for a DAG notifies
 * ASSET_EVENT_CHANNEL (db/asset-event.repository.ts), so a worker's consumer wakes at once instead
 * of at its next poll, whichever process emitted the event (a task in another worker, the CLI, a
 * program using AssetClient). One dedicated connection outside the pool; it reconnects after a
 * loss. Polling stays the safety net: a notification lost while reconnecting is picked up there.
 */
import pg from 'pg';
import { ASSET_EVENT_CHANNEL } from './asset-event.repository.js';

export interface AssetEventListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Called for each notification and after every (re)connect (events may have been missed meanwhile). */
  onEvent: () => void;
  onError?: (message: string) => void;
  /** Wait before reconnecting, ms. Default 1000. */
  reconnectDelayMs?: number;
}

export async function listenForAssetEvents(url: string, opts: ListenOptions): Promise<AssetEventListener> {
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', () => opts.onEvent());
    c.on('error', (err) => {
      opts.onError?.(`asset event listener: ${err.message}; reconnecting`);
      void c.end().catch(() => undefined);
      if (client === c) client = null;
      schedule();
    });
    await c.connect();
    await c.query(`LISTEN ${ASSET_EVENT_CHANNEL}`);
    if (closed) {
      await c.end();
      return;
    }
    client = c;
    opts.onEvent();
  };
  const schedule = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().catch((err: Error) => {
        opts.onError?.(`asset event listener: ${err.message}; retrying`);
        schedule();
      });
    }, opts.reconnectDelayMs ?? 1000);
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}
