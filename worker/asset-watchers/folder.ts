/**
 * The folder watcher's listing: the regular files under `path` whose path relative to it matches
 * `glob` (Python glob rules, as FileSensor: '*', '?', '[...]', '[!...]', '**' across directories,
 * wildcards skip dot-files unless the pattern part starts with '.'). Symlinked directories are not
 * followed (no cycles); a symlinked file counts as the file it points to.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { segmentRegex } from '../../activities/sensors/file-check.js';
import type { WatchedItem } from '../../db/asset-watcher.repository.js';
import type { FolderWatcherSpec } from '../../spec/asset-watcher.js';

export interface Listing {
  items: WatchedItem[];
  /** false when part of the tree could not be read: absent items are then not taken as gone. */
  complete: boolean;
}

/** Whether relative path segments match glob segments. */
export function globMatches(glob: readonly string[], parts: readonly string[]): boolean {
  const res = glob.map((g) => (g === '**' ? null : segmentRegex(g)));
  const match = (i: number, j: number): boolean => {
    if (i === glob.length) return j === parts.length;
    if (glob[i] === '**') return match(i + 1, j) || (j < parts.length && !parts[j]!.startsWith('.') && match(i, j + 1));
    if (j === parts.length) return false;
    if (parts[j]!.startsWith('.') && !glob[i]!.startsWith('.')) return false;
    return res[i]!.test(parts[j]!) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

export async function listFolder(spec: FolderWatcherSpec, now: number = Date.now()): Promise<Listing> {
  const glob = spec.glob.split('/').filter((s) => s !== '');
  const maxDepth = glob.includes('**') ? Infinity : glob.length;
  const items: WatchedItem[] = [];
  let complete = true;
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // The root not existing yet is an empty folder; anything else is a gap in the listing.
      if (!(rel.length === 0 && (err as NodeJS.ErrnoException).code === 'ENOENT')) complete = false;
      return;
    }
    for (const e of entries) {
      const parts = [...rel, e.name];
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (parts.length < maxDepth) await walk(full, parts);
        continue;
      }
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      if (!globMatches(glob, parts)) continue;
      let s;
      try {
        s = await stat(full);
      } catch (err) {
        // Deleted between readdir and stat, or a dangling link: not there.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') complete = false;
        continue;
      }
      if (!s.isFile()) continue;
      items.push({
        key: parts.join('/'),
        version: `${Math.round(s.mtimeMs)}:${s.size}`,
        extra: { path: full, size: s.size, mtime: s.mtime.toISOString() },
        ready: now - s.mtimeMs >= spec.min_age * 1000,
      });
    }
  };
  await walk(spec.path, []);
  return { items, complete };
}
