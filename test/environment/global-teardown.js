// Jest's globalTeardown (jest.config.js): see services.js.
export { stopServices as default } from './services.js';
