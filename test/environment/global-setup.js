// Jest's globalSetup (jest.config.js): see services.js.
export { startServices as default } from './services.js';
