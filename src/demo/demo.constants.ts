/** Injection token of the demo app's `DemoConfig`. */
export const DEMO_CONFIG = Symbol('DEMO_CONFIG');
