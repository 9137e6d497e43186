// The ESLint rules that hold the layout together (ARCHITECTURE.md, "who may import what"):
//   updraft/folder-imports  each top-level folder imports only the folders and packages its rule allows
//   updraft/no-cycle        no import cycle between files, type-only imports included
// Both resolve import paths against the repository root instead of matching import strings, so
// '../../db/x.js' from a nested file is caught the same as '../db/x.js'. no-cycle reads the other
// files' imports with TypeScript's own pre-processor, which sees `import type`, `export ... from`,
// `import('x').T` types and require(); import-x's no-cycle skips type-only imports by design.
import { statSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

const builtins = new Set(builtinModules);
const codeFile = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/;

/** 'node:fs', 'fs' -> 'node:*'; '@scope/pkg/sub' -> '@scope/pkg'; 'pkg/sub' -> 'pkg'. */
function packageOf(specifier) {
  if (specifier.startsWith('node:') || builtins.has(specifier.split('/')[0])) return 'node:*';
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const isRelative = (specifier) =>
  specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');

/** The file a relative import names, if it exists: TypeScript's node16 rule, where './x.js' means './x.ts'. */
function resolveFile(fromFile, specifier) {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [
    base
      .replace(/\.js$/, '.ts')
      .replace(/\.mjs$/, '.mts')
      .replace(/\.cjs$/, '.cts'),
    base,
    `${base}.ts`,
    path.join(base, 'index.ts'),
  ];
  for (const candidate of candidates) {
    if (!codeFile.test(candidate)) continue;
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this candidate
    }
  }
  return undefined;
}

/** Relative imports of a source text, resolved, with their offsets (for reporting). */
function importsInText(file, text) {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  const out = [];
  for (const imported of importedFiles) {
    if (!isRelative(imported.fileName)) continue;
    const target = resolveFile(file, imported.fileName);
    if (target) out.push({ target, specifier: imported.fileName, pos: imported.pos, end: imported.end });
  }
  return out;
}

// Per-file import lists, re-read when the file changes (an editor's ESLint server lives long).
const importCache = new Map();
function importsOnDisk(file) {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    return [];
  }
  const cached = importCache.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.targets;
  const targets = [...new Set(importsInText(file, readFileSync(file, 'utf8')).map((i) => i.target))];
  importCache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, targets });
  return targets;
}

/** A path of imports from `start` back to `goal` (both included), or undefined. */
function pathBack(start, goal) {
  const seen = new Set();
  const walk = (file) => {
    if (file === goal) return [file];
    if (seen.has(file) || file.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
    seen.add(file);
    for (const next of importsOnDisk(file)) {
      const rest = walk(next);
      if (rest) return [file, ...rest];
    }
    return undefined;
  };
  return walk(start);
}

/** An internal path matches a rule entry when it is the entry or lies under it ('workflows/messages'). */
const under = (relPath, entry) => relPath === entry || relPath.startsWith(`${entry}/`);

/**
 * The static imports of a module, with whether each is erased at compile time (type-only).
 * `import { type A }` counts as type-only: with isolatedModules and no verbatimModuleSyntax,
 * TypeScript drops an import whose every specifier is a type.
 */
function importVisitors(onImport) {
  const allTypes = (specifiers, key) => specifiers.length > 0 && specifiers.every((s) => s[key] === 'type');
  const literal = (node) =>
    node && node.type === 'Literal' && typeof node.value === 'string' ? node.value : undefined;
  const visit = (node, specifier, typeOnly) => {
    if (specifier !== undefined) onImport(node, specifier, typeOnly);
  };
  return {
    ImportDeclaration: (node) =>
      visit(node, literal(node.source), node.importKind === 'type' || allTypes(node.specifiers, 'importKind')),
    ExportNamedDeclaration: (node) =>
      visit(node, literal(node.source), node.exportKind === 'type' || allTypes(node.specifiers, 'exportKind')),
    ExportAllDeclaration: (node) => visit(node, literal(node.source), node.exportKind === 'type'),
    ImportExpression: (node) => visit(node, literal(node.source), false),
    TSImportType: (node) => visit(node, literal(node.source ?? node.argument?.literal), true),
    TSImportEqualsDeclaration: (node) =>
      visit(
        node,
        node.moduleReference.type === 'TSExternalModuleReference'
          ? literal(node.moduleReference.expression)
          : undefined,
        node.importKind === 'type',
      ),
    CallExpression: (node) => {
      if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments.length === 1)
        visit(node, literal(node.arguments[0]), false);
    },
  };
}

/**
 * @param {{ root: string, folders: Record<string, FolderRule> }} config
 * FolderRule: { rule: string (the sentence in messages), anything?: true, mayImport?: string[],
 *   mayImportTypes?: string[], packages?: { allow: string[] } | { deny: string[] } }
 * Entries of mayImport/mayImportTypes are repository paths without extension ('spec',
 * 'workflows/messages'); a folder may always import itself. 'node:*' in a package list stands
 * for every Node.js built-in.
 */
export function updraftPlugin({ root, folders }) {
  const relative = (file) => path.relative(root, file).split(path.sep).join('/');

  const folderImports = {
    meta: {
      type: 'problem',
      docs: { description: 'Each top-level folder imports only what its rule in eslint.config.mjs allows' },
      schema: [],
    },
    create(context) {
      const fromRel = relative(context.filename);
      const folder = fromRel.split('/')[0];
      if (fromRel.startsWith('..') || !fromRel.includes('/')) return {};
      const rule = folders[folder];
      if (!rule) {
        return {
          Program: (node) =>
            context.report({
              node,
              message: `${folder}/ has no import rule: add one to the folder table in eslint.config.mjs (and to ARCHITECTURE.md)`,
            }),
        };
      }
      if (rule.anything) return {};
      const report = (node, what) =>
        context.report({
          node,
          message: `${folder}/ may not import ${what}: ${rule.rule} (ARCHITECTURE.md, "who may import what")`,
        });
      return importVisitors((node, specifier, typeOnly) => {
        if (isRelative(specifier)) {
          const targetRel = relative(path.resolve(path.dirname(context.filename), specifier)).replace(codeFile, '');
          if (targetRel.split('/')[0] === folder) return;
          if ((rule.mayImport ?? []).some((entry) => under(targetRel, entry))) return;
          const typesAllowed = (rule.mayImportTypes ?? []).some((entry) => under(targetRel, entry));
          if (typeOnly && typesAllowed) return;
          if (targetRel.startsWith('..')) return report(node, `'${specifier}' (outside the repository)`);
          return report(node, typesAllowed ? `values from ${targetRel} (types only: use \`import type\`)` : targetRel);
        }
        const pkg = packageOf(specifier);
        const policy = rule.packages;
        if (!policy) return;
        const denied = 'allow' in policy ? !policy.allow.includes(pkg) : policy.deny.includes(pkg);
        if (denied) report(node, pkg === 'node:*' ? `the Node.js built-in '${specifier}'` : `the package '${pkg}'`);
      });
    },
  };

  const noCycle = {
    meta: {
      type: 'problem',
      docs: { description: 'No import cycles between files, type-only imports included' },
      schema: [],
    },
    create(context) {
      const file = context.filename;
      if (!codeFile.test(file)) return {};
      return {
        Program() {
          const text = context.sourceCode.text;
          const reported = new Set();
          for (const imported of importsInText(file, text)) {
            if (reported.has(imported.target)) continue;
            reported.add(imported.target);
            const back = imported.target === file ? [file] : pathBack(imported.target, file);
            if (!back) continue;
            const cycle = [file, ...back].map(relative).join(' → ');
            context.report({
              loc: {
                start: context.sourceCode.getLocFromIndex(imported.pos),
                end: context.sourceCode.getLocFromIndex(imported.end),
              },
              message: `import cycle: ${cycle} (type-only imports count: move the shared declarations to the lower module)`,
            });
          }
        },
      };
    },
  };

  return { meta: { name: 'updraft-layout' }, rules: { 'folder-imports': folderImports, 'no-cycle': noCycle } };
}
