import { ArrayMaxSize, ArrayNotEmpty, Equals, IsArray, IsNotEmpty, IsOptional, IsString } from 'class-validator';

/** Body of `POST /notifications`: exactly one of userId, userIds, topic, broadcast. */
export class PublishNotificationDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  userId?: string;

  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  userIds?: string[];

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  topic?: string;

  @IsOptional()
  @Equals(true)
  broadcast?: true;

  @IsString()
  @IsNotEmpty()
  type!: string;

  @IsOptional()
  data?: unknown;
}
