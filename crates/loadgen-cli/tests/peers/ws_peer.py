"""A WebSocket server nobody here wrote (Python's `websockets`), for the interop test in
tests/ws.rs. It listens on 127.0.0.1:0, prints its port, and behaves by path:

  /rtt         each JSON message {"id": ...} is answered by an unrelated message first,
               then by {"id": <the same id>, "echo": <the message>}
  /binary      each binary message is echoed back; a text message closes the connection
               with 1003 (unsupported data): a client that ignored --ws-binary fails
  /fragmented  each message is echoed back in three fragments
  /close1011   the first message closes the connection with 1011 (internal error)

It exits when its standard input closes (the test's end).
"""

import asyncio
import json
import sys

from websockets.asyncio.server import serve


async def handler(ws):
    path = ws.request.path
    async for msg in ws:
        if path == "/rtt":
            m = json.loads(msg)
            await ws.send(json.dumps({"id": "not yours", "noise": True}))
            await ws.send(json.dumps({"id": m["id"], "echo": m}))
        elif path == "/binary":
            if not isinstance(msg, bytes):
                await ws.close(1003, "binary messages only")
                return
            await ws.send(msg)
        elif path == "/fragmented":
            text = msg if isinstance(msg, str) else msg.decode()
            third = max(1, len(text) // 3)
            parts = [text[:third], text[third : 2 * third], text[2 * third :]]
            await ws.send(iter(parts))
        elif path == "/close1011":
            await ws.close(1011, "failed on purpose")
            return


async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
