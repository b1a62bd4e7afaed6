/** Unit, template and local end-to-end tests. Type checking runs once in `npm test` (tsc --noEmit). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }],
  },
  // The local end-to-end tests train real models; give them room, and keep the suite on 2 cores.
  testTimeout: 120000,
  maxWorkers: 2,
  setupFiles: ['<rootDir>/test/setup-env.js'],
};
