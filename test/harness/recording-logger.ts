import type { LoggerService } from '@nestjs/common';

export interface LogLine {
  level: string;
  context?: string;
  text: string;
}

/** Records everything the app logs: the level, the context (Nest passes it last) and every argument as text. */
export class RecordingLogger implements LoggerService {
  readonly lines: LogLine[] = [];

  log(message: unknown, ...params: unknown[]): void {
    this.record('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.record('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.record('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.record('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.record('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.record('fatal', message, params);
  }

  of(context: string): LogLine[] {
    return this.lines.filter((line) => line.context === context);
  }

  private record(level: string, message: unknown, params: unknown[]): void {
    const last = params.at(-1);
    const context = params.length > 0 && typeof last === 'string' ? last : undefined;
    this.lines.push({ level, context, text: [message, ...params].map(render).join(' ') });
  }
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The drops of slow clients that the writer told (one line per interval), with the count each line gives. */
export function slowClientDrops(lines: readonly LogLine[]): Array<{ level: string; context?: string; count: number }> {
  return lines.flatMap((line) => {
    const match = /^Dropped (\d+) streams? whose clients? (?:was|were) not reading/.exec(line.text);
    return match ? [{ level: line.level, context: line.context, count: Number(match[1]) }] : [];
  });
}
