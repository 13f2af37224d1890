import { Body, Controller, Delete, HttpCode, HttpStatus, type MessageEvent, Param, RequestMethod } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import type { Observable } from 'rxjs';
import { Authenticated, CurrentPrincipal, LastEventId, type Principal, SseRoute } from '../../sse/index.js';
import { openApiSchemaOf, ZodBodyPipe } from '../zod-body.pipe.js';
import { type ChatRequest, chatRequestSchema } from './chat-request.schema.js';
import { ChatService } from './chat.service.js';

@Controller('chat')
export class ChatController {
  constructor(private readonly chat: ChatService) {}

  /**
   * Asks the model; the answer streams back: `sse.resume` (where to resume it), `chat` (its id), `token`s,
   * then `done`, `error` or `cancelled`, then `sse.close`.
   */
  @SseRoute('', { method: RequestMethod.POST })
  @ApiBody({ schema: openApiSchemaOf(chatRequestSchema) })
  ask(@CurrentPrincipal() principal: Principal, @Body(new ZodBodyPipe(chatRequestSchema)) body: ChatRequest): Observable<MessageEvent> {
    return this.chat.ask(principal, body.message);
  }

  /** Resumes one of the caller's answers after `Last-Event-ID`, to its end. */
  @SseRoute(':id')
  resume(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @LastEventId() lastEventId: string | undefined,
  ): Observable<MessageEvent> {
    return this.chat.resume(principal, id, lastEventId);
  }

  /** Stops writing an answer at once, on whichever instance writes it. */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @Authenticated()
  cancel(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    return this.chat.cancel(principal, id);
  }
}
