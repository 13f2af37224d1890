import { Injectable, Logger } from '@nestjs/common';
import { type Job, JobService, type NotificationStream, type Principal } from '../../sse/index.js';
import { ChatModel, ChatModelError } from './chat-model.js';

/** Events of an answer, in order: `chat` once, `token`s, then one of the three that end it. */
export interface ChatEvents {
  chat: { id: string };
  token: string;
  done: { id: string };
  error: { id: string; message: string };
  cancelled: { id: string };
}

/**
 * Chat answers, each a job of the library's `JobService`: written by the model
 * into the job's own topic, kept in the history, so that an answer can be
 * resumed with `Last-Event-ID` and cancelled, on any instance, by its owner.
 */
@Injectable()
export class ChatService {
  private readonly logger = new Logger(ChatService.name);

  constructor(
    private readonly jobs: JobService<ChatEvents>,
    private readonly model: ChatModel,
  ) {}

  /** Starts an answer and streams it: `sse.resume`, `chat` with its id, its tokens, how it ended, `sse.close`. */
  ask(principal: Principal, message: string): NotificationStream {
    return this.jobs.start(principal, { url: (id) => `/chat/${id}` }, (job) => this.write(job, message));
  }

  /** Streams the rest of an answer after `lastEventId`. Only its owner may. */
  resume(principal: Principal, id: string, lastEventId: string | undefined): NotificationStream {
    return this.jobs.resume(principal, id, lastEventId);
  }

  /** Stops the model writing an answer, on whichever instance runs it. */
  cancel(principal: Principal, id: string): Promise<void> {
    return this.jobs.cancel(principal, id);
  }

  private async write(job: Job<ChatEvents>, message: string): Promise<void> {
    try {
      await job.publish('chat', { id: job.id });
      for await (const piece of this.model.answer(message, job.signal)) await job.publish('token', piece);
      await job.publish('done', { id: job.id });
    } catch (err) {
      if (job.signal.aborted) {
        await job.publish('cancelled', { id: job.id }).catch(() => undefined);
      } else {
        const reason = err instanceof ChatModelError ? err.message : 'The answer could not be completed';
        if (!(err instanceof ChatModelError)) this.logger.error(`Answer ${job.id} failed: ${(err as Error).message}`);
        await job.publish('error', { id: job.id, message: reason }).catch(() => undefined);
      }
    }
  }
}
