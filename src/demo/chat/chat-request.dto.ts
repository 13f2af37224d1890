import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** Body of `POST /chat`. */
export class ChatRequestDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(4000)
  message!: string;
}
