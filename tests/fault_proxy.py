"""An HTTP proxy on 127.0.0.1 in front of a real server, which the tests tell to misbehave: answer
429 or 503 instead of forwarding, stop listening (a server that died) and listen again (it came
back), go down after N answers, or hold requests without ever answering. The server behind it
is real (vllm serve); only the faults are made here."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.port = free_port()
        self.lock = threading.Lock()
        self.fail: list[int] = []  # statuses to answer, one per coming POST, before forwarding again
        self.down_after: int | None = None  # answer this many more POSTs, then die
        self.hang = False
        self.dead = False  # from the moment it "died" until up(): every request is dropped
        self.forwarded = 0  # POSTs answered by the upstream server
        self.faults = 0  # POSTs answered with a fault status
        self.release = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.connections: set[socket.socket] = set()
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def up(self) -> None:
        proxy = self
        self.dead = False

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy.lock:
                    proxy.connections.add(self.connection)

            def finish(self) -> None:
                with proxy.lock:
                    proxy.connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                if proxy.dead:
                    self.close_connection = True
                    return
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    status = proxy.fail.pop(0) if proxy.fail else None
                    hang = proxy.hang
                    if proxy.down_after is not None:
                        proxy.dead = proxy.dead or proxy.down_after <= 0
                        proxy.down_after -= 1
                    dead = proxy.dead
                if dead:  # died before answering this one: the connection drops, the port closes
                    self.close_connection = True
                    threading.Thread(target=proxy.down).start()
                    return
                if hang:
                    proxy.release.wait(120)  # bounded: the test releases it at its end
                    self.close_connection = True
                    return
                if status is not None:
                    with proxy.lock:
                        proxy.faults += 1
                    self._answer(status, b'{"error": {"message": "injected fault"}}', {"Retry-After": "0"})
                    return
                self._forward(body)
                with proxy.lock:
                    proxy.forwarded += 1

            def _forward(self, body: bytes | None) -> None:
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS}
                conn.close()
                self._answer(answer.status, data, kept)

            def _answer(self, status: int, data: bytes, headers: dict) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: new connections are refused, as by a server that died."""
        with self.lock:
            server, self.server = self.server, None
            self.down_after, self.dead = None, True
        if server is not None:
            server.shutdown()
            server.server_close()
        with self.lock:  # and the kept-alive connections die with it
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.release.set()
        self.down()

    def wait_down(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self.server is not None and time.monotonic() < end:
            time.sleep(0.05)
