/** One Server-Sent Event: `data` lines joined with "\n". */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Parses a `text/event-stream` body into messages (comments and heartbeats are skipped). The
 * generator ends when the stream ends; a stream that breaks rejects.
 *
 * @example
 * for await (const m of readSse(res.body!)) console.log(m.id, JSON.parse(m.data));
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  for await (const batch of readSseBatches(body)) yield* batch;
}

/**
 * Like `readSse`, but yields the messages completed by each chunk read together, so a consumer can
 * handle a burst in one go (one storage transaction for many events).
 *
 * @example
 * for await (const batch of readSseBatches(res.body!)) console.log(batch.length);
 */
export async function* readSseBatches(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage[]> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message: SseMessage = { data: "" };
  let hasData = false;
  const takeLine = (line: string, batch: SseMessage[]) => {
    if (line === "") {
      if (hasData) batch.push(message);
      message = { data: "" };
      hasData = false;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      message.data = hasData ? `${message.data}\n${value}` : value;
      hasData = true;
    } else if (field === "id") message.id = value;
    else if (field === "event") message.event = value;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        // A "\r" held back as a possible half of "\r\n" was a line end after all.
        if (!buffer.endsWith("\r")) return;
        const last: SseMessage[] = [];
        takeLine(buffer.slice(0, -1), last);
        if (last.length > 0) yield last;
        return;
      }
      buffer += value;
      const batch: SseMessage[] = [];
      // One pass over the chunk (lines end with \n, \r\n or \r), then keep the unfinished line.
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        // A "\r" that ends the chunk may be the first half of "\r\n": wait for the next chunk.
        if (c === 13 && i === buffer.length - 1) break;
        takeLine(buffer.slice(start, i), batch);
        if (c === 13 && buffer.charCodeAt(i + 1) === 10) i++;
        start = i + 1;
      }
      buffer = buffer.slice(start);
      if (batch.length > 0) yield batch;
    }
  } finally {
    // Also runs when the consumer stops early: release the connection instead of leaving it open.
    await reader.cancel().catch(() => {});
  }
}
