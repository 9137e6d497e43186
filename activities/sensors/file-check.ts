/**
 * FileSensor's check: the first path matching `pattern` (Python glob rules: '*', '?', '[...]',
 * '[!...]', and '**' across directories when `recursive`; wildcards skip dot-files unless the
 * segment starts with '.') that is a file, or a directory holding a file somewhere below it.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const GLOB_CHARS = /[*?[]/;

/** The matching path, or null when there is none yet. */
export async function findFileMatch(
  pattern: string,
  recursive: boolean,
  cwd: string = process.cwd(),
): Promise<string | null> {
  const absolute = path.resolve(cwd, pattern);
  if (!GLOB_CHARS.test(absolute)) return (await satisfies(absolute)) ? absolute : null;
  const { root } = path.parse(absolute);
  const segments = absolute
    .slice(root.length)
    .split(path.sep)
    .filter((s) => s !== '');
  return walk(root, segments, 0, recursive);
}

async function walk(dir: string, segments: readonly string[], i: number, recursive: boolean): Promise<string | null> {
  if (i === segments.length) return (await satisfies(dir)) ? dir : null;
  const segment = segments[i]!;
  if (!GLOB_CHARS.test(segment)) return walk(path.join(dir, segment), segments, i + 1, recursive);
  const entries = await listDir(dir);
  if (segment === '**' && recursive) {
    // Zero directories, or one more directory and '**' again.
    const here = await walk(dir, segments, i + 1, recursive);
    if (here !== null) return here;
    for (const e of entries) {
      if (e.name.startsWith('.') || !e.isDirectory()) continue;
      const found = await walk(path.join(dir, e.name), segments, i, recursive);
      if (found !== null) return found;
    }
    return null;
  }
  const re = segmentRegex(segment === '**' ? '*' : segment);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.') && !segment.startsWith('.')) continue;
    if (!re.test(e.name)) continue;
    const found = await walk(path.join(dir, e.name), segments, i + 1, recursive);
    if (found !== null) return found;
  }
  return null;
}

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** A file, or a directory with a file somewhere below it (Airflow walks it). */
async function satisfies(p: string): Promise<boolean> {
  let s;
  try {
    s = await stat(p);
  } catch {
    return false;
  }
  if (s.isFile()) return true;
  if (!s.isDirectory()) return false;
  for (const e of await listDir(p)) {
    const child = path.join(p, e.name);
    if (e.isFile()) return true;
    if (e.isDirectory() && (await satisfies(child))) return true;
    if (e.isSymbolicLink() && (await satisfies(child))) return true;
  }
  return false;
}

/** One path segment of a glob as a regular expression. */
export function segmentRegex(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}
