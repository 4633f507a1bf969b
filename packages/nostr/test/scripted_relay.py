"""A scripted relay for tests of the pool's own behaviour (what it sends, what it drops).

It prints every frame a client sends as a JSON line {"conn": n, "frame": [...]}, and obeys JSON
commands on stdin: {"send": <frame>} to every client, {"drop": true} to cut every connection.
Usage: python scripted_relay.py PORT
"""

import asyncio
import json
import sys
import threading

from websockets.asyncio.server import serve

clients = {}
counter = 0


async def handler(ws) -> None:
    global counter
    counter += 1
    n = counter
    clients[n] = ws
    try:
        async for message in ws:
            print(json.dumps({"conn": n, "frame": json.loads(message)}), flush=True)
    except Exception:  # noqa: BLE001 — a dropped client is expected here
        pass
    finally:
        clients.pop(n, None)


async def main() -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    async with serve(handler, "127.0.0.1", int(sys.argv[1])):
        print(json.dumps({"ready": True}), flush=True)
        while (cmd := await commands.get()) is not None:
            for ws in list(clients.values()):
                if "send" in cmd:
                    await ws.send(json.dumps(cmd["send"]))
                elif cmd.get("drop"):
                    await ws.close()


asyncio.run(main())
