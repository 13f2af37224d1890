import { ForbiddenException, HttpException, type Logger } from '@nestjs/common';
import { SseUnavailableError } from '../http/sse-unavailable.error.js';
import type { Principal } from './principal.js';

/** Whether a principal may read a topic: `canReadTopic`, as the options give it. */
export type TopicCheck = (principal: Principal, topic: string) => boolean | Promise<boolean>;

/**
 * Decides whether the principal may read every one of `topics`. A check that
 * answers at once is decided here, and a refusal thrown (403); then nothing
 * more is spent, not even a promise. Where a check answers with a promise, the
 * result is a promise of the decision, bounded by `timeoutMs`: it rejects with
 * 403 for a refusal, and 503 for a check that failed or took too long.
 */
export function decideTopicAccess(
  check: TopicCheck,
  principal: Principal,
  topics: readonly string[],
  timeoutMs: number,
  retryAfterSeconds: number,
  logger: Logger,
): Promise<void> | undefined {
  let pending: Array<{ topic: string; allowed: PromiseLike<boolean> }> | undefined;
  for (const topic of topics) {
    let allowed: boolean | PromiseLike<boolean>;
    try {
      allowed = check(principal, topic);
    } catch (err) {
      // A check that throws failed as one that rejects does: it is answered the same way.
      allowed = Promise.reject(err);
    }
    if (isPromiseLike(allowed)) (pending ??= []).push({ topic, allowed });
    else if (!allowed) throw refusal(topic);
  }
  return pending && decideLater(pending, timeoutMs, retryAfterSeconds, logger);
}

async function decideLater(
  pending: ReadonlyArray<{ topic: string; allowed: PromiseLike<boolean> }>,
  timeoutMs: number,
  retryAfterSeconds: number,
  logger: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`it took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const answers = await Promise.race([Promise.all(pending.map(({ allowed }) => allowed)), tooLate]);
    const refused = pending.find((_, i) => !answers[i]);
    if (refused) throw refusal(refused.topic);
  } catch (err) {
    // The application's own answer (its 403 or 404) stands; anything else is the check failing, not the caller.
    if (err instanceof HttpException) throw err;
    logger.warn(`Topic access could not be decided: ${(err as Error)?.message ?? String(err)}`);
    throw new SseUnavailableError('Topic access cannot be decided right now; retry shortly', retryAfterSeconds);
  } finally {
    clearTimeout(timer);
  }
}

function refusal(topic: string): ForbiddenException {
  return new ForbiddenException(`Not allowed to read topic "${topic}"`);
}

function isPromiseLike(value: unknown): value is PromiseLike<boolean> {
  return typeof (value as PromiseLike<boolean> | null)?.then === 'function';
}
