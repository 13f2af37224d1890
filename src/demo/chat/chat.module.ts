import { type DynamicModule, Module } from '@nestjs/common';
import { CannedChatModel } from './canned-chat.model.js';
import { ChatController } from './chat.controller.js';
import { ChatModel } from './chat-model.js';
import { CHAT_SETTINGS, ChatService, type ChatSettings } from './chat.service.js';

/** The demo's AI chat over POST streams, with the canned model. */
@Module({})
export class ChatModule {
  static register(settings: ChatSettings & { tokenDelayMs: number }): DynamicModule {
    return {
      module: ChatModule,
      providers: [
        ChatService,
        { provide: ChatModel, useValue: new CannedChatModel(settings.tokenDelayMs) },
        { provide: CHAT_SETTINGS, useValue: settings },
      ],
      controllers: [ChatController],
    };
  }
}
