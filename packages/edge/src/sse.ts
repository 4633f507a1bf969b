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
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message: SseMessage = { data: "" };
  let hasData = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let newline = buffer.search(/\r\n|\r|\n/);
      while (newline >= 0) {
        // A "\r" that ends the chunk may be the first half of "\r\n": wait for the next chunk.
        if (buffer[newline] === "\r" && newline === buffer.length - 1) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        newline = buffer.search(/\r\n|\r|\n/);
        if (line === "") {
          if (hasData) yield message;
          message = { data: "" };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") {
          message.data = hasData ? `${message.data}\n${value}` : value;
          hasData = true;
        } else if (field === "id") message.id = value;
        else if (field === "event") message.event = value;
      }
    }
  } finally {
    // Also runs when the consumer stops early: release the connection instead of leaving it open.
    await reader.cancel().catch(() => {});
  }
}
