// Lint encodes the architecture: which folder may import what (ARCHITECTURE.md), plus the
// Temporal samples' rules that catch real bugs (floating promises in workflows).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);
const ioPackages = ['pg', 'kysely', '@electric-sql/pglite', '@electric-sql/pglite-socket', 'dockerode', '@kubernetes/client-node', 'esbuild', 'commander', 'nunjucks'];
const temporalRuntime = ['@temporalio/worker', '@temporalio/client', '@temporalio/activity', '@temporalio/testing'];
const msg = (why) => ({ message: why });

const restrict = (paths, patterns = []) => ({
  '@typescript-eslint/no-restricted-imports': ['error', {
    paths: paths.map((p) => (typeof p === 'string' ? { name: p, ...msg('not allowed in this folder (see ARCHITECTURE.md import rules)') } : p)),
    patterns,
  }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.updraft/**', 'test/fixtures/**', 'deploy/**', 'steps/**', 'bin/**', 'scripts/**', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-require-imports': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearTimeout: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['sdk/**/*.ts'],
    rules: restrict([...nodeBuiltins, ...ioPackages, ...temporalRuntime, '@temporalio/workflow'], [
      { group: ['../workflows/*', '../activities/*', '../worker/*', '../db/*', '../cli/*', '../server/*', '../client/*', '../../*'], message: 'sdk/ is pure: it imports only sdk/' },
    ]),
  },
  {
    files: ['workflows/**/*.ts'],
    rules: restrict([...nodeBuiltins, ...ioPackages, ...temporalRuntime], [
      { group: ['../db/*', '../worker/*', '../cli/*', '../server/*', '../client/*', '../dags/*', '../../db/*', '../../worker/*', '../../cli/*', '../../client/*', '../../dags/*'], message: 'workflows/ runs in the Temporal sandbox: no I/O code' },
      { group: ['../activities/*', '../../activities/*'], message: 'workflows import only the *types* of activities', allowTypeImports: true },
    ]),
  },
  {
    files: ['migrations/**/*.ts'],
    rules: restrict([...nodeBuiltins, ...temporalRuntime, '@temporalio/workflow'], [
      { group: ['../*'], message: 'migrations are frozen in time: they import kysely only' },
    ]),
  },
  {
    files: ['db/**/*.ts'],
    rules: restrict([...temporalRuntime, '@temporalio/workflow', 'dockerode', '@kubernetes/client-node'], [
      { group: ['../workflows/*', '../activities/*', '../worker/*', '../cli/*', '../server/*', '../client/*'], message: 'db/ is below everything but sdk/' },
    ]),
  },
  {
    files: ['activities/**/*.ts'],
    rules: restrict(['@temporalio/workflow', '@temporalio/worker', '@temporalio/client'], [
      { group: ['../worker/*', '../../worker/*', '../cli/*', '../server/*'], message: 'activities must not import the composition root or front ends' },
    ]),
  },
  {
    files: ['dags/**/*.ts'],
    rules: restrict([], [
      { group: ['../workflows/*', '../activities/*', '../worker/*', '../db/*', '../../workflows/*', '../../activities/*', '../../worker/*', '../../db/*'], message: 'DAG files use the public SDK only' },
    ]),
  },
);
