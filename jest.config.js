// Jest runs the TypeScript sources as native ES modules (the project is "type": "module" because
// @noble/ed25519 3 and yargs 18 ship only ESM). Type checking is done once by `tsc --noEmit` in
// `npm test`, so ts-jest only transpiles (isolatedModules), which keeps the suite fast.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
};
