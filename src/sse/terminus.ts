// The `@nestjs/terminus` integration, an entry of its own so that terminus stays an optional dependency.
export { SseHealthIndicator } from './observability/sse.health-indicator.js';
