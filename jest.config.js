// Jest runs the TypeScript sources as native ES modules (the project is "type": "module" because
// @noble/ed25519 3 and yargs 18 ship only ESM). Type checking is done once by `tsc --noEmit` in
// `npm test`, so ts-jest only transpiles (isolatedModules), which keeps the suite fast.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // @peculiar/webcrypto (pulled in by @auth0/cose, the SUIT bridge's COSE library) exports an ES build
  // from a package that is not "type": "module", which Jest's ESM loader parses as CommonJS and fails
  // on: its CommonJS build is used instead.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1', '^@peculiar/webcrypto$': '<rootDir>/node_modules/@peculiar/webcrypto/build/webcrypto.js' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  // Without Jest's timings from an earlier run here (a fresh clone, as CI tests), the slowest files start first.
  testSequencer: '<rootDir>/test/test-sequencer.js',
  // Three test files at a time, whatever the core count. Most suites wait on sockets, child processes,
  // PostgreSQL and timers rather than compute, and every file keeps its own temp folders, ports (0)
  // and PostgreSQL schema, so they run side by side. On two cores Jest's default is one worker: the
  // files' times add up to 34 minutes; three workers ran them in 11.4 (docs/code-style.md R16).
  // `--maxWorkers=N` on the command line still overrides it.
  maxWorkers: 3,
  testTimeout: 30000,
};
