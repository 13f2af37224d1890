/**
 * Jest runs the TypeScript sources as ES modules (Nest 12 is ESM-only). The
 * end-to-end suites run once over Express and once over Fastify (child
 * processes of the demo and the browser's included), except the bench's, the
 * package's and the Sentinel failover's, which pick their servers themselves,
 * and the check of the shared services, which has no server. Before any
 * suite, globalSetup finds or starts the Redis and PostgreSQL they share
 * (test/environment/).
 */
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // @fastify/static (Swagger UI on Fastify) requires content-disposition 3, which is ESM-only: Node 20
    // loads it, but Jest on Node 20 cannot require() ESM. Express's copy (2.x, CommonJS) has the same API.
    '^content-disposition$': '<rootDir>/node_modules/content-disposition/dist/index.js',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
};

const e2e = ['<rootDir>/test/**/*.e2e.spec.ts'];

export default {
  // More workers than the two cores CI has: the end-to-end suites mostly wait (on timers, sockets and Chromium), and
  // with two workers the cores were busy less than half of the run.
  maxWorkers: 3,
  // A worker grows by every ESM suite it loads (each in a VM context of its own) to over 1 GB, and then takes longer
  // to die than Jest waits at the end ("failed to exit gracefully"). Past this, a worker is replaced between suites.
  workerIdleMemoryLimit: '700MB',
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/environment/global-setup.js',
  globalTeardown: '<rootDir>/test/environment/global-teardown.js',
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    // Tab sharing is the client's own coordination between tabs: it runs on the demo's default adapter only, while
    // the server side it uses (streams, topics, resume) runs over both in the browser and client suites. So does the
    // bell's suite (the page on the inbox add-on, in tabs): the inbox's HTTP contract and sse.inbox run over both in
    // the inbox, client-inbox and browser suites.
    { ...base, displayName: 'e2e · express', testMatch: e2e, testPathIgnorePatterns: ['/client-tabs\\.', '/bell\\.'] },
    {
      ...base,
      displayName: 'e2e · fastify',
      testMatch: e2e,
      testPathIgnorePatterns: ['/bench-smoke\\.', '/package\\.', '/services\\.', '/redis-sentinel\\.'],
      setupFiles: ['<rootDir>/test/harness/fastify.setup.ts'],
    },
  ],
};
