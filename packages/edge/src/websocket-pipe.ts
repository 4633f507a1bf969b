/**
 * Relays an upstream WebSocket (from a `fetch` upgrade) to a new client socket, both ways, and
 * calls `onClose` once when either side ends. Used where the relay must know how long a socket
 * lives (ContainerDO counts it as activity); a plain proxy could return the upstream response.
 *
 * @example
 * const res = await fetch(upgradeRequest);
 * if (res.webSocket) return pipeWebSocket(res, () => console.log("closed"));
 */
export function pipeWebSocket(upstreamResponse: Response, onClose: () => void): Response {
  const upstream = upstreamResponse.webSocket!;
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  upstream.accept();
  server.accept();
  let closed = false;
  const close = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    // 1005/1006 cannot be sent in a close frame; report a normal closure instead.
    const sendable = code === 1005 || code === 1006 ? 1000 : code;
    for (const ws of [upstream, server]) {
      try {
        ws.close(sendable, reason);
      } catch {
        // Already closed.
      }
    }
    onClose();
  };
  upstream.addEventListener("message", (e) => {
    server.send(e.data);
  });
  server.addEventListener("message", (e) => {
    upstream.send(e.data);
  });
  upstream.addEventListener("close", (e) => close(e.code, e.reason));
  server.addEventListener("close", (e) => close(e.code, e.reason));
  upstream.addEventListener("error", () => close(1011, "upstream error"));
  server.addEventListener("error", () => close(1011, "client error"));
  return new Response(null, { status: 101, webSocket: client });
}
