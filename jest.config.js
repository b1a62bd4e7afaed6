/** Unit, template and local end-to-end tests. Type checking runs once in `npm test` (tsc --noEmit). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }],
  },
  // The local end-to-end tests train real models; give them room. Three workers on CI's 2 cores: much of a local
  // end-to-end test is waiting (queue visibility timeouts, quiet periods, polls), and a third worker uses that time
  // (the suite is known to pass at load averages of 10 and more).
  testTimeout: 120000,
  maxWorkers: 3,
  setupFiles: ['<rootDir>/test/setup-env.js'],
};
