/**
 * History ⇄ JSON in the format `temporal workflow show --output json` and the Web UI export use.
 *
 * `historyToJSON`/`historyFromJSON` from '@temporalio/common/lib/proto-utils' are the tools for
 * this, but with this install's tree (@temporalio/common and @temporalio/proto each carry their own
 * copy of protobufjs 8) they throw `TypeError: type must be a Type`: protojson's `instanceof Type`
 * check meets a Type from the other copy. When that happens we run the same conversion with the
 * protojson of the copy @temporalio/proto uses.
 */
import { createRequire } from 'node:module';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

let fallback: { protojson: ProtoJson; historyType: unknown } | undefined;

function sameCopy(): { protojson: ProtoJson; historyType: unknown } {
  if (!fallback) {
    const protoRequire = createRequire(require.resolve('@temporalio/proto'));
    const protojson = protoRequire('protobufjs/ext/protojson') as ProtoJson;
    const patched = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
    fallback = { protojson, historyType: patched.lookupType('temporal.api.history.v1.History') };
  }
  return fallback;
}

function isCopyMismatch(err: unknown): boolean {
  return err instanceof TypeError && err.message === 'type must be a Type';
}

export function historyToJson(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!isCopyMismatch(err)) throw err;
    const { protojson, historyType } = sameCopy();
    return JSON.stringify(
      protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)),
      null,
      2,
    );
  }
}

export function historyFromJson(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!isCopyMismatch(err)) throw err;
    const { protojson, historyType } = sameCopy();
    // Our files come from historyToJson, so enum values are already in canonical form.
    const loaded = protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History | null;
    if (loaded === null) throw new TypeError('invalid history JSON');
    return loaded;
  }
}

/** Runs a recorder script's main (when run as a script), printing a failure and exiting 1. */
export function runRecorder(module: NodeJS.Module, main: () => Promise<void>): void {
  if (require.main !== module) return;
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
