// Lint encodes the architecture: which folder may import what (ARCHITECTURE.md), no import cycles
// (type-only ones included), plus the Temporal samples' rules that catch real bugs (floating
// promises in workflows). The folder rules live in scripts/lint/updraft-plugin.mjs; the table is here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { updraftPlugin } from './scripts/lint/updraft-plugin.mjs';

const ioPackages = [
  'pg',
  'kysely',
  '@electric-sql/pglite',
  '@electric-sql/pglite-socket',
  'dockerode',
  '@kubernetes/client-node',
  'esbuild',
  'commander',
  'nunjucks',
];
const temporalRuntime = ['@temporalio/worker', '@temporalio/client', '@temporalio/activity', '@temporalio/testing'];

/**
 * Who may import what, one entry per top-level folder with TypeScript in it (a folder without an
 * entry is a lint error). mayImport: repository paths whose values and types the folder may import;
 * mayImportTypes: paths it may import types from only; packages: an allow or deny list ('node:*' is
 * every Node.js built-in; no list means any package). A folder may always import itself.
 */
const folders = {
  spec: { rule: 'spec/ is the wire-format leaf: it imports nothing', mayImport: [], packages: { allow: [] } },
  engine: {
    rule: 'engine/ is the pure interpreter core: it imports only spec/ and itself, no packages',
    mayImport: ['spec'],
    packages: { allow: [] },
  },
  sdk: {
    rule: 'sdk/ is what DAG files import: spec/, engine/ and itself, no node:* and no I/O packages',
    mayImport: ['spec', 'engine'],
    packages: { deny: ['node:*', ...ioPackages, ...temporalRuntime, '@temporalio/workflow'] },
  },
  workflows: {
    rule: 'workflows/ runs in the Temporal sandbox: @temporalio/workflow, @temporalio/common, engine/, spec/, and only the types of activities/',
    mayImport: ['spec', 'engine'],
    mayImportTypes: ['activities'],
    packages: { allow: ['@temporalio/workflow', '@temporalio/common'] },
  },
  activities: {
    rule: 'activities/ may import db/, secrets/, sdk/, engine/, spec/ and the workflow contract workflows/types, never the composition root or front ends',
    mayImport: ['spec', 'engine', 'sdk', 'db', 'secrets', 'artifacts', 'workflows/types'],
    packages: {
      deny: [
        '@temporalio/workflow',
        '@temporalio/worker',
        '@temporalio/client',
        '@temporalio/testing',
        'commander',
        'esbuild',
      ],
    },
  },
  secrets: {
    rule: 'secrets/ (Variables, Connections, encryption, masking) may import db/ and spec/ only',
    mayImport: ['spec', 'db'],
    packages: {
      deny: [
        ...temporalRuntime,
        '@temporalio/workflow',
        'dockerode',
        '@kubernetes/client-node',
        'esbuild',
        'commander',
        'nunjucks',
      ],
    },
  },
  artifacts: {
    rule: 'artifacts/ (the content-addressed artifact store) is a leaf used by activities/, cli/ and worker/: node and the S3 client only',
    mayImport: ['spec'],
    packages: { allow: ['node:*', '@aws-sdk/client-s3'] },
  },
  db: {
    rule: 'db/ sits below everything but spec/ and the pure engine/: kysely, pg, PGlite and node only',
    mayImport: ['spec', 'engine'],
    packages: { allow: ['node:*', 'kysely', 'pg', '@electric-sql/pglite'] },
  },
  migrations: {
    rule: 'migrations/ are frozen in time: they import kysely only',
    mayImport: [],
    packages: { allow: ['kysely'] },
  },
  client: {
    rule: "client/ (what a Temporal client does: trigger, operator actions) may import db/, engine/, spec/, secrets/ (to mask what it echoes), the workflow's messages, types and search attributes, and the workflow's types",
    mayImport: [
      'spec',
      'engine',
      'db',
      'secrets',
      'workflows/messages',
      'workflows/types',
      'workflows/search-attributes',
    ],
    mayImportTypes: ['workflows'],
    packages: {
      deny: [
        '@temporalio/worker',
        '@temporalio/workflow',
        '@temporalio/activity',
        '@temporalio/testing',
        'dockerode',
        '@kubernetes/client-node',
        'esbuild',
        'commander',
        'nunjucks',
      ],
    },
  },
  worker: {
    rule: 'worker/ is the composition root: it may import every code folder but cli/',
    mayImport: ['spec', 'engine', 'sdk', 'workflows', 'activities', 'secrets', 'artifacts', 'db', 'client'],
  },
  cli: {
    rule: 'cli/ (the updraft command) may import worker/, client/, secrets/, db/, sdk/, engine/ and spec/, not activities/ or workflows/ directly',
    // '../package.json': cli/main.js reads the version from the package root (it runs from dist/cli/).
    mayImport: ['spec', 'engine', 'sdk', 'db', 'secrets', 'artifacts', 'client', 'worker', '../package.json'],
    packages: { deny: ['@temporalio/workflow', '@temporalio/activity', '@temporalio/testing'] },
  },
  dags: {
    rule: 'dags/ are DAG files: the public SDK (sdk/index) only, plus their own helpers',
    mayImport: ['sdk/index'],
  },
  test: { rule: 'test/ may import anything', anything: true },
  bench: { rule: 'bench/ may import anything', anything: true },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.updraft/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/no-require-imports': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        setInterval: 'readonly',
        clearTimeout: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.ts'],
    plugins: { updraft: updraftPlugin({ root: import.meta.dirname, folders }) },
    rules: { 'updraft/folder-imports': 'error', 'updraft/no-cycle': 'error' },
  },
);
