import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SseModuleOptions } from './sse.options.js';

export const {
  ConfigurableModuleClass: ConfigurableSseModule,
  MODULE_OPTIONS_TOKEN: SSE_MODULE_OPTIONS,
  OPTIONS_TYPE: SSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SseModuleOptions>()
  .setClassMethodName('forRoot')
  // Global by default, as Nest's own throttler and event emitter are: the guards that @SseRoute() puts on a
  // controller are built in that controller's module, which must see the module's providers.
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
