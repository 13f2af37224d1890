import { type DynamicModule, Module } from '@nestjs/common';
import { CannedChatModel } from './canned-chat.model.js';
import { ChatController } from './chat.controller.js';
import { ChatModel } from './chat-model.js';
import { ChatService } from './chat.service.js';

/** The demo's AI chat over resumable POST streams, with the canned model. */
@Module({})
export class ChatModule {
  static register(settings: { tokenDelayMs: number }): DynamicModule {
    return {
      module: ChatModule,
      providers: [ChatService, { provide: ChatModel, useValue: new CannedChatModel(settings.tokenDelayMs) }],
      controllers: [ChatController],
    };
  }
}
