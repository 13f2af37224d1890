/** Injection token of the demo app's `DemoConfig`. */
export const DEMO_CONFIG = Symbol('DEMO_CONFIG');

/** Injection token of the demo app's prom-client `Registry`. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
