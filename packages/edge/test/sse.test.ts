import { describe, expect, it } from "vitest";
import { readSse, readSseBatches } from "../src/sse.ts";

/** A body that delivers exactly these chunks, one read each. */
const body = (chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });

const all = async <T>(gen: AsyncGenerator<T>) => {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
};

describe("readSse / readSseBatches", () => {
  it("parses ids, types and multi-line data across any chunking and line ending; skips comments", async () => {
    const text =
      ': hello\nid: 1\nevent: log\ndata: {"a":1}\n\nid: 2\r\ndata: x\r\ndata: y\r\n\r\nid: 3\rdata: z\r\r';
    const expected = [
      { id: "1", event: "log", data: '{"a":1}' },
      { id: "2", data: "x\ny" },
      { id: "3", data: "z" },
    ];
    expect(await all(readSse(body([text])))).toEqual(expected);
    // Every split point, including between "\r" and "\n".
    for (let i = 1; i < text.length; i++) {
      expect(await all(readSse(body([text.slice(0, i), text.slice(i)]))), `split at ${i}`).toEqual(expected);
    }
  });

  it("yields the messages completed by each read together", async () => {
    const batches = await all(
      readSseBatches(body(["data: 1\n\ndata: 2\n\ndata: 3", "\n\n: ping\n\n", "data: 4\n\n"])),
    );
    expect(batches.map((b) => b.map((m) => m.data))).toEqual([["1", "2"], ["3"], ["4"]]);
  });
});
