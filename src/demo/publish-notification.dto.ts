import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, Equals, IsArray, IsNotEmpty, IsOptional, IsString } from 'class-validator';

/** Body of `POST /notifications`: exactly one of userId, userIds, topic, broadcast. */
export class PublishNotificationDto {
  @ApiPropertyOptional({ description: 'One recipient', example: 'alice' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  userId?: string;

  @ApiPropertyOptional({ description: 'Several recipients', type: [String], example: ['alice', 'bob'] })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  userIds?: string[];

  @ApiPropertyOptional({ description: 'Every stream that asked for this topic', example: 'news' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  topic?: string;

  @ApiPropertyOptional({ description: 'Every stream', enum: [true] })
  @IsOptional()
  @Equals(true)
  broadcast?: true;

  @ApiProperty({ description: 'The event type (`event:`); no control characters, no `sse.` prefix', example: 'todo' })
  @IsString()
  @IsNotEmpty()
  type!: string;

  @ApiPropertyOptional({ description: 'Any JSON: sent as `data:` exactly as given', example: { title: 'Call Bob' } })
  @IsOptional()
  data?: unknown;
}
