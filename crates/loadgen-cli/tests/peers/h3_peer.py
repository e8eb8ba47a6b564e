"""An HTTP/3 server nobody here wrote (Python's aioquic), for the interop test in
tests/h3.rs. Usage: h3_peer.py CERT.pem KEY.pem. It listens on 127.0.0.1 (UDP, port 0),
prints its port, and answers by path:

  /            200, "hello from aioquic " and the request body
  /status/503  503
  /reset       resets the request stream (H3_REQUEST_CANCELLED, 0x10c)

It exits when its standard input closes (the test's end).
"""

import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration


class Peer(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._h3 = None
        self._requests = {}

    def quic_event_received(self, event):
        if self._h3 is None:
            self._h3 = H3Connection(self._quic)
        for e in self._h3.handle_event(event):
            if isinstance(e, HeadersReceived):
                path = dict(e.headers).get(b":path", b"/")
                self._requests[e.stream_id] = [path, b""]
                if e.stream_ended:
                    self._answer(e.stream_id)
            elif isinstance(e, DataReceived):
                r = self._requests.get(e.stream_id)
                if r is not None:
                    r[1] += e.data
                    if e.stream_ended:
                        self._answer(e.stream_id)

    def _answer(self, sid):
        path, body = self._requests.pop(sid)
        if path == b"/reset":
            self._quic.reset_stream(sid, 0x10C)
        else:
            status = b"503" if path == b"/status/503" else b"200"
            data = b"hello from aioquic " + body
            self._h3.send_headers(
                sid,
                [(b":status", status), (b"content-length", str(len(data)).encode())],
            )
            self._h3.send_data(sid, data, end_stream=True)
        self.transmit()


async def main():
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    cfg.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await serve("127.0.0.1", 0, configuration=cfg, create_protocol=Peer)
    port = server._transport.get_extra_info("sockname")[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
