import { type ArgumentMetadata, BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { nestsDeeperThan } from '../events/json-depth.js';

/**
 * Refuses a request body nested deeper than `maxDepth` objects and arrays with
 * a 400, before any validator or handler walks it: recursive copies (a
 * class-transformer DTO, `JSON.stringify`) exhaust the call stack at a few
 * thousand levels, which a small body can reach. Use it as a global pipe:
 * `app.useGlobalPipes(new JsonDepthPipe())`.
 */
@Injectable()
export class JsonDepthPipe implements PipeTransform {
  constructor(private readonly maxDepth = 64) {
    if (!Number.isSafeInteger(maxDepth) || maxDepth <= 0) {
      throw new Error(`JsonDepthPipe: maxDepth must be a positive integer, got ${maxDepth}`);
    }
  }

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'body' && nestsDeeperThan(value, this.maxDepth)) {
      throw new BadRequestException(`The request body is nested deeper than ${this.maxDepth} levels`);
    }
    return value;
  }
}
