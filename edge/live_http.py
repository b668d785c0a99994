"""The live view's HTTP side: the threaded server and the request handler (standard library only). It asks
`edge.serve.LiveServer` for everything it sends: the page, the state, the metrics and the JPEG frames."""

from __future__ import annotations

import json
import logging
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from edge.serve import LiveServer

log = logging.getLogger(__name__)

BOUNDARY = "frame"
GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
"""What a viewer that went away raises."""


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    live: LiveServer

    def server_bind(self) -> None:
        """Bind without http.server's reverse-DNS lookup of the host, which can stall where DNS is slow."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A viewer that went away is routine; anything else is logged, never printed as a bare traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, GONE):
            log.debug("%s disconnected: %s", client_address, error)
        else:
            log.warning("live view: request from %s failed", client_address, exc_info=error)


class Handler(BaseHTTPRequestHandler):
    server: HttpServer
    server_version = "fer-edge"
    timeout = 15.0
    """Socket timeout: a viewer that stops reading for this long is dropped."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        live = self.server.live
        url = urlsplit(self.path)
        if not live.authorized(url.query, self.headers.get("Authorization")):
            self._send(401, b"401 Unauthorized: add ?token=... or an 'Authorization: Bearer ...' header\n",
                       "text/plain; charset=utf-8", {"WWW-Authenticate": 'Bearer realm="fer-edge"'})
            return
        if url.path in ("/", "/index.html"):
            self._send(200, live.page().encode(), "text/html; charset=utf-8")
        elif url.path == "/api/state":
            self._send(200, json.dumps(live.state(), separators=(",", ":")).encode(), "application/json")
        elif url.path == "/metrics":
            self._send(200, live.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        elif url.path == "/stream.mjpg":
            self._stream(live)
        else:
            self._send(404, b"404 Not Found: try /, /stream.mjpg, /api/state or /metrics\n",
                       "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, live: LiveServer) -> None:
        if not live.join_stream():
            self._send(503, b"503: too many viewers\n", "text/plain; charset=utf-8")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sent = 0
            while True:
                seq, jpeg = live.next_jpeg(sent, timeout=1.0)
                if seq < 0:
                    break
                if jpeg is not None:
                    self.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                     % (BOUNDARY.encode(), len(jpeg), jpeg))
                sent = seq  # also past a frame that failed to encode
        except GONE as exc:
            log.debug("viewer %s left the stream: %s", self.address_string(), exc)
        finally:
            live.leave_stream()
            self.close_connection = True

