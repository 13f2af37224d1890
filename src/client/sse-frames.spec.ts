import { framesOf, type Frame } from './sse-frames.js';

/** A body that arrives in these pieces (split anywhere, as the network does). */
function body(...pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      pieces.forEach((piece) => controller.enqueue(encoder.encode(piece)));
      controller.close();
    },
  });
}

async function framesIn(...pieces: string[]): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of framesOf(body(...pieces))) frames.push(frame);
  return frames;
}

describe('framesOf', () => {
  it("gives each event the topic its block's comment names, and none to the others", async () => {
    expect(
      await framesIn(
        'event: a\nid: 1-0\ndata: 1\n\n',
        ':\n\n',
        'event: b\nid: 2-0\n: topic news\ndata: 2\n\n',
        'event: c\nid: 3-0\ndata: 3\n\n',
      ),
    ).toEqual([
      { type: 'a', id: '1-0', data: '1', topic: undefined },
      { type: 'b', id: '2-0', data: '2', topic: 'news' },
      { type: 'c', id: '3-0', data: '3', topic: undefined },
    ]);
  });

  it('keeps the topic with its event when the block is split across chunks, even inside a line', async () => {
    expect(await framesIn('event: b\nid: 2-0\n: top', 'ic sports and more\nda', 'ta: "x"\n', '\n')).toEqual([
      { type: 'b', id: '2-0', data: '"x"', topic: 'sports and more' },
    ]);
  });

  it('leaves other comments (heartbeats) and unnamed events alone', async () => {
    expect(await framesIn(': hello\n\ndata: plain\n\n')).toEqual([{ type: 'message', id: undefined, data: 'plain', topic: undefined }]);
  });

  it('decodes multi-byte characters split between chunks', async () => {
    const bytes = new TextEncoder().encode('data: "héllo ✓"\n\n');
    const split = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 9));
        controller.enqueue(bytes.slice(9));
        controller.close();
      },
    });
    const frames: Frame[] = [];
    for await (const frame of framesOf(split)) frames.push(frame);
    expect(frames.map((frame) => frame.data)).toEqual(['"héllo ✓"']);
  });
});
