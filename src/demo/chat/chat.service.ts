import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type MessageEvent, NotFoundException, type OnApplicationShutdown } from '@nestjs/common';
import { mergeMap, Observable, takeWhile } from 'rxjs';
import { CLOSE_EVENT, COMPLETED, NotificationService, type Principal, READY_EVENT, RESUME_EVENT } from '../../sse/index.js';
import { ChatModel, ChatModelError } from './chat-model.js';

export interface ChatSettings {
  /** How long an answer whose client went away keeps being written, waiting for it to resume (ms). */
  detachedGraceMs: number;
  /** How long a finished answer can still be resumed (ms): the history's age bound. */
  keepMs: number;
}

export const CHAT_SETTINGS = Symbol('CHAT_SETTINGS');

/** Events of an answer, in order: `chat` once, `token`s, then one of the three that end it. */
export interface ChatEvents {
  chat: { id: string };
  token: string;
  done: { id: string };
  error: { id: string; message: string };
  cancelled: { id: string };
}

const ENDING_TYPES = new Set(['done', 'error', 'cancelled', 'sse.loss', CLOSE_EVENT]);

const TOPIC_PREFIX = 'chat:';

/** A tag of the answer's owner, in its id and topic, so that only they may read it. */
export function ownerTag(userId: string): string {
  return createHash('sha256').update(userId).digest('base64url').slice(0, 22);
}

/** Whether the principal owns the chat answer behind a topic; other topics are not chat topics. */
export function isOwnChatTopic(principal: Principal, topic: string): boolean | undefined {
  if (!topic.startsWith(TOPIC_PREFIX)) return undefined;
  return topic.startsWith(`${TOPIC_PREFIX}${ownerTag(principal.userId)}.`);
}

interface Answer {
  readonly id: string;
  readonly topic: string;
  readonly userId: string;
  readonly controller: AbortController;
  /** The id of its `chat` event, once published: where a resume without a cursor starts. */
  chatEventId?: string;
  finished: boolean;
  /** Streams reading it now. */
  readers: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Chat answers: each is written by the model into its own topic, whose events
 * are kept in the history like any other, so an answer can be resumed with
 * `Last-Event-ID`. An answer with no reader is cancelled after a grace period,
 * and at once on `cancel`.
 */
@Injectable()
export class ChatService implements OnApplicationShutdown {
  private readonly logger = new Logger(ChatService.name);
  private readonly answers = new Map<string, Answer>();

  constructor(
    private readonly notifications: NotificationService<ChatEvents>,
    private readonly model: ChatModel,
    @Inject(CHAT_SETTINGS) private readonly settings: ChatSettings,
  ) {}

  /** Starts an answer and streams it: `chat` with its id first, then its tokens, to the end. */
  ask(principal: Principal, message: string): Observable<MessageEvent> {
    const id = `${ownerTag(principal.userId)}.${randomUUID()}`;
    const answer: Answer = {
      id,
      topic: `${TOPIC_PREFIX}${id}`,
      userId: principal.userId,
      controller: new AbortController(),
      finished: false,
      readers: 0,
    };
    this.answers.set(id, answer);
    // Subscribed first, written second: the stream misses nothing of it.
    return this.read(principal, answer, undefined, () => void this.write(answer, message));
  }

  /** Streams the rest of an answer after `lastEventId`. Only its owner may. */
  resume(principal: Principal, id: string, lastEventId: string | undefined): Observable<MessageEvent> {
    const answer = this.answers.get(id);
    if (!answer || answer.userId !== principal.userId) throw new NotFoundException(`No answer ${id} of yours`);
    return this.read(principal, answer, lastEventId ?? answer.chatEventId);
  }

  cancel(principal: Principal, id: string): void {
    const answer = this.answers.get(id);
    if (!answer || answer.userId !== principal.userId) throw new NotFoundException(`No answer ${id} of yours`);
    answer.controller.abort();
  }

  onApplicationShutdown(): void {
    for (const answer of this.answers.values()) {
      answer.controller.abort();
      clearTimeout(answer.idleTimer);
    }
  }

  private read(principal: Principal, answer: Answer, lastEventId: string | undefined, onSubscribed?: () => void) {
    const resume = JSON.stringify({ url: `/chat/${encodeURIComponent(answer.id)}` });
    const completed = JSON.stringify({ reason: COMPLETED });
    // The resumable POST stream's wire contract: `sse.resume` (where to resume, from the stream's starting id) first,
    // then the answer, then `sse.close` completed.
    const events = this.notifications
      .stream(principal, { topics: [answer.topic], lastEventId, userEvents: false, broadcasts: false })
      .pipe(
        takeWhile((event) => !ENDING_TYPES.has(event.type ?? ''), true),
        mergeMap((event): MessageEvent[] => {
          if (event.type === READY_EVENT) return [{ ...event, type: RESUME_EVENT, data: resume }];
          if (ENDING_TYPES.has(event.type ?? '') && event.type !== CLOSE_EVENT) {
            return [event, { id: event.id, type: CLOSE_EVENT, data: completed }];
          }
          return [event];
        }),
      );
    return new Observable<MessageEvent>((sink) => {
      const subscription = events.subscribe(sink);
      this.attach(answer);
      onSubscribed?.();
      return () => {
        subscription.unsubscribe();
        this.detach(answer);
      };
    });
  }

  private async write(answer: Answer, message: string): Promise<void> {
    const { signal } = answer.controller;
    const publish = <Type extends keyof ChatEvents>(type: Type, data: ChatEvents[Type]) =>
      this.notifications.publishToTopic(answer.topic, type, data);
    try {
      answer.chatEventId = await publish('chat', { id: answer.id });
      for await (const piece of this.model.answer(message, signal)) await publish('token', piece);
      await publish('done', { id: answer.id });
    } catch (err) {
      if (signal.aborted) {
        await publish('cancelled', { id: answer.id }).catch(() => undefined);
      } else {
        const reason = err instanceof ChatModelError ? err.message : 'The answer could not be completed';
        if (!(err instanceof ChatModelError)) this.logger.error(`Answer ${answer.id} failed: ${(err as Error).message}`);
        await publish('error', { id: answer.id, message: reason }).catch(() => undefined);
      }
    } finally {
      answer.finished = true;
      clearTimeout(answer.idleTimer);
      // Resumable as long as the history keeps its events.
      setTimeout(() => this.answers.delete(answer.id), this.settings.keepMs).unref();
    }
  }

  private attach(answer: Answer): void {
    answer.readers++;
    clearTimeout(answer.idleTimer);
  }

  /** With no reader left, an unfinished answer waits a while for one to resume, then stops. */
  private detach(answer: Answer): void {
    if (--answer.readers > 0 || answer.finished) return;
    answer.idleTimer = setTimeout(() => answer.controller.abort(), this.settings.detachedGraceMs);
    answer.idleTimer.unref();
  }
}
