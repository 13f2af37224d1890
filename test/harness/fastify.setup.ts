// Runs the end-to-end suites of the "e2e · fastify" Jest project over Fastify (see demo-server.ts).
process.env.TEST_HTTP_ADAPTER = 'fastify';
