"""Runs nostr-sdk's LocalRelay (rust-nostr, an independent relay) on 127.0.0.1 and prints its URL.

Usage: python local_relay.py PORT [--no-rate-limit]   (LocalRelay reports port 0 as-is, so the caller picks a
free one). Stops on SIGTERM/SIGINT or stdin EOF. LocalRelay rate-limits writers by default (a few dozen
events a minute per connection); benchmarks that post hundreds of jobs lift it with --no-rate-limit.
"""

import asyncio
import signal
import sys
import threading

from nostr_sdk import LocalRelay, RateLimit, RelayBuilder


async def main() -> None:
    port = int(sys.argv[1])
    builder = RelayBuilder().addr("127.0.0.1").port(port)
    if "--no-rate-limit" in sys.argv[2:]:
        builder = builder.rate_limit(RateLimit(max_reqs=100_000, notes_per_minute=1_000_000))
    relay = LocalRelay(builder)
    await relay.run()
    print(f"LISTENING {await relay.url()}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin open; when it dies the pipe closes and the relay goes with it.
    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    relay.shutdown()


asyncio.run(main())
