import { Body, Controller, Get, HttpCode, HttpStatus, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal, InboxService, type InboxPage, type Principal } from '../sse/index.js';
import {
  type InboxQueryParams,
  inboxQuerySchema,
  type MarkItems,
  markItemsSchema,
  type MarkRead,
  markReadSchema,
} from './inbox.schemas.js';
import { openApiSchemaOf, ZodBodyPipe } from './zod-body.pipe.js';

const UNREAD_EXAMPLE = { schema: { example: { unread: 2 } } };

/** The caller's own inbox: list it, mark items read or unread, archive them. */
@ApiTags('inbox')
@ApiBearerAuth()
@Authenticated()
@ApiResponse({ status: 400, description: 'Bad query or body: what is wrong is in `message`' })
@ApiResponse({ status: 401, description: 'No valid bearer token' })
@ApiResponse({ status: 503, description: 'The inbox store is unreachable' })
@Controller('inbox')
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  @ApiOperation({ summary: "A page of the caller's inbox, newest first, with the unread count" })
  @ApiQuery({ name: 'status', required: false, enum: ['unread', 'all', 'archived'], description: '`all` (default): every item not archived' })
  @ApiQuery({ name: 'limit', required: false, description: 'Items per page, 1–100 (default 20)' })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the page before' })
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        items: [
          {
            id: '1795232652697-0',
            type: 'todo',
            data: { title: 'Call Bob' },
            createdAt: '2026-11-20T09:04:12.697Z',
            readAt: null,
            archivedAt: null,
          },
        ],
        unread: 1,
        nextCursor: null,
      },
    },
  })
  list(@CurrentPrincipal() principal: Principal, @Query(new ZodBodyPipe(inboxQuerySchema)) query: InboxQueryParams): Promise<InboxPage> {
    return this.inbox.page(principal.userId, query);
  }

  @Post('read')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Mark items read, or all of them' })
  @ApiBody({ schema: openApiSchemaOf(markReadSchema) })
  @ApiResponse({ status: 200, description: 'The unread count after it', ...UNREAD_EXAMPLE })
  async read(@CurrentPrincipal() principal: Principal, @Body(new ZodBodyPipe(markReadSchema)) body: MarkRead): Promise<{ unread: number }> {
    return { unread: await this.inbox.markRead(principal.userId, body.all ? 'all' : body.ids!) };
  }

  @Post('unread')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Mark items unread again' })
  @ApiBody({ schema: openApiSchemaOf(markItemsSchema) })
  @ApiResponse({ status: 200, description: 'The unread count after it', ...UNREAD_EXAMPLE })
  async unread(@CurrentPrincipal() principal: Principal, @Body(new ZodBodyPipe(markItemsSchema)) body: MarkItems): Promise<{ unread: number }> {
    return { unread: await this.inbox.markUnread(principal.userId, body.ids) };
  }

  @Post('archive')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Archive items: listed with status=archived only, and not counted' })
  @ApiBody({ schema: openApiSchemaOf(markItemsSchema) })
  @ApiResponse({ status: 200, description: 'The unread count after it', ...UNREAD_EXAMPLE })
  async archive(@CurrentPrincipal() principal: Principal, @Body(new ZodBodyPipe(markItemsSchema)) body: MarkItems): Promise<{ unread: number }> {
    return { unread: await this.inbox.archive(principal.userId, body.ids) };
  }
}
