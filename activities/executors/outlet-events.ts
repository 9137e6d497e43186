/**
 * ctx.outletEvents for in-process task functions (Airflow's outlet_events): one pending event per
 * outlet the task declares, whose `extra` the function may set. The activity records the events
 * with these extras when the try succeeds (db/asset-event.repository.ts emitTaskOutletEvents).
 */
import type { OutletEventAccessors } from '../../sdk/context.js';
import { sanitizeAssetUri } from '../../engine/assets/asset.js';
import type { AssetRef, Json } from '../../spec/dag-spec.js';

export interface OutletEvents {
  accessors: OutletEventAccessors;
  /** The extras set so far, by outlet uri (only outlets whose extra was touched). */
  extras(): Record<string, { [key: string]: Json }>;
}

export function outletEvents(taskId: string, outlets: readonly AssetRef[]): OutletEvents {
  const pending = new Map<string, { extra: Record<string, Json> }>();
  const declared = new Set(outlets.map((o) => o.uri));
  return {
    accessors: {
      get(asset) {
        const raw = typeof asset === 'string' ? asset : asset?.uri;
        if (typeof raw !== 'string' || raw.trim() === '')
          throw new TypeError(`ctx.outletEvents.get: expected an Asset or its uri, got ${JSON.stringify(asset)}`);
        const uri = sanitizeAssetUri(raw, 'ctx.outletEvents.get');
        if (!declared.has(uri)) {
          const names = [...declared].map((u) => `'${u}'`).join(', ');
          throw new TypeError(
            `ctx.outletEvents.get('${raw}'): not an outlet of task "${taskId}" (${names ? `its outlets: ${names}` : 'it has no outlets'}); add it to the task's outlets`,
          );
        }
        let entry = pending.get(uri);
        if (entry === undefined) pending.set(uri, (entry = { extra: {} }));
        return entry;
      },
    },
    extras() {
      const out: Record<string, { [key: string]: Json }> = {};
      for (const [uri, entry] of pending) out[uri] = entry.extra;
      return out;
    },
  };
}
