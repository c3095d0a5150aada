// ESLint with typescript-eslint over the TypeScript sources, tests and benchmarks; `npm run lint`
// (run first by `npm test`). Formatting is prettier's job (`npm run format:check`), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**', 'prebuilds/**', '.tap/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      // Unused names are already a compile error (noUnusedLocals/Parameters); `_`-prefixed ones are meant.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // `let x = fallback; try { x = parse() } catch {}` reads better than the rule's alternative.
      'no-useless-assignment': 'off',
    },
  },
  {
    // Library code logs through pino; the CLI, scripts, tests and benchmarks print.
    files: ['src/**/*.ts', 'agent/**/*.ts'],
    ignores: ['src/cli/**', 'agent/cli.ts', 'agent/main.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // The install hook is CommonJS on purpose: it runs before anything is built.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    rules: { 'no-useless-assignment': 'off' },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
      },
    },
  },
);
