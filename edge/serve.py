"""Watch a headless device from a browser: a live page, an MJPEG stream, JSON state and Prometheus metrics.

`LiveServer` is a sink like the others: the run loop calls `write(frame, result)` once per frame and
`close()` at the end. The pipeline thread only drops the latest annotated frame and its record into a
lock-protected slot; viewer threads encode it (once per frame, shared by all viewers, and only while
someone watches /stream.mjpg) and send it, so a slow viewer never stalls the pipeline. Standard library
HTTP only (`http.server.ThreadingHTTPServer` in a daemon thread).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import cv2
import numpy as np

from edge.live_http import Handler, HttpServer
from edge.render import hex_colours
from edge.results import SCHEMA, FrameResult
from edge.sinks import Sink, SinkError
from edge.timing import StageTimer

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TOKEN_ENV = "FER_EDGE_TOKEN"
STAGE_WINDOW = 300
"""Per-stage figures on the live page and in /metrics cover the most recent this-many frames."""
PAGE = Path(__file__).with_name("live.html")
"""The live page (HTML, CSS and script in one file, no external resources); __Q__ and __COLOURS__ are filled in."""


class ServeError(SinkError):
    """The live server cannot start (for example, the port is in use); the message names the address."""


@dataclass(frozen=True)
class ServeOptions:
    """Where the live view listens and who may see it."""

    host: str = LOOPBACK
    """Interface to bind; anything but loopback makes the camera visible to the network (a warning is logged)."""
    port: int = 8080
    """TCP port (0: any free port; the bound one is `LiveServer.port`)."""
    token: str | None = None
    """When set, every request must carry it (`?token=` or `Authorization: Bearer`), else 401."""
    jpeg_quality: int = 80
    """JPEG quality of the MJPEG stream, 1-100."""
    max_viewers: int = 8
    """Concurrent /stream.mjpg viewers; more get 503."""

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"host must be a non-empty name or address, got {self.host!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0-65535, got {self.port}")
        if self.token is not None and (not self.token or not self.token.isprintable()
                                       or any(c.isspace() for c in self.token)):
            raise ValueError(f"token must be non-empty, printable and without spaces "
                             f"(got a {len(self.token)}-character value)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1-100, got {self.jpeg_quality}")
        if self.max_viewers < 1:
            raise ValueError(f"max_viewers must be at least 1, got {self.max_viewers}")

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to a public interface


def parse_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` -> (host, port); the host defaults to loopback. `[::1]:8080` for IPv6."""
    value = text.strip()
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--serve: put an IPv6 address in brackets, e.g. [::1]:8080 (got {text!r})")
    if not port.isdigit():
        raise ValueError(f"--serve takes [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080 (got {text!r})")
    return host or LOOPBACK, int(port)


class LiveServer(Sink):
    """The live view of a run: `write(frame, result)` per frame, `close()` at the end.

    `timer` (the recogniser's) gives the per-stage figures on the page and in /metrics.
    """

    draws = True

    def __init__(self, options: ServeOptions = ServeOptions(), timer: StageTimer | None = None) -> None:
        self.options = options
        self.encoded = 0
        """JPEG encodes done so far (one per frame at most, and none while nobody watches the stream)."""
        self._cond = threading.Condition()
        self._seq = 0
        self._image: np.ndarray | None = None
        self._record: dict[str, Any] | None = None
        self._timer = timer
        self._frames = self._faces = self._viewers = 0
        self._closed = False
        self._encode_lock = threading.Lock()
        self._jpeg: bytes = b""
        self._jpeg_seq = 0
        self._jpeg_params = [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]
        family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        server_class = type("_Server", (HttpServer,), {"address_family": family})
        try:
            self._httpd: HttpServer = server_class((options.host, options.port), Handler)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = " (another program, or another fer-edge --serve, uses it: pick another port)" \
                if exc.errno == errno.EADDRINUSE else ""
            raise ServeError(f"cannot serve on {options.host}:{options.port}: {reason}{hint}") from exc
        self._httpd.live = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                         name="fer-edge-serve", daemon=True)
        self._thread.start()
        if not options.loopback:
            log.warning("live view listens on %s:%d, beyond loopback: anyone who can reach this machine %s; "
                        "traffic is not encrypted (prefer an SSH tunnel to a loopback port)", options.host,
                        self.port, "and knows the token can watch" if options.token else
                        "can watch the camera (no --token set)")

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, without the token."""
        host = self.options.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def viewers(self) -> int:
        """Clients currently reading /stream.mjpg."""
        return self._viewers

    def write(self, frame: np.ndarray, result: FrameResult) -> None:
        """Make `frame` (annotated) and its result the latest; cheap, never blocks on viewers.

        The frame is copied only while someone watches the stream.
        """
        image = frame.copy() if self._viewers else None
        record = result.to_dict()
        with self._cond:
            self._seq += 1
            self._image, self._record = image, record
            self._frames += 1
            self._faces += len(result.faces)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop serving: viewers' streams end, the port is released."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)

    # -- what the handlers read ------------------------------------------------------------------

    def authorized(self, query: str, authorization: str | None) -> bool:
        """Whether a request carries the token (always, when no token is set)."""
        token = self.options.token
        if token is None:
            return True
        offered = parse_qs(query).get("token", [])
        if authorization and authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        return any(hmac.compare_digest(o.encode(), token.encode()) for o in offered)

    def stages(self) -> dict[str, dict[str, float]]:
        """p50 and p95 milliseconds per stage over the last STAGE_WINDOW frames."""
        timer = self._timer
        if timer is None:
            return {}
        return {name: {"p50": round(s["p50"], 3), "p95": round(s["p95"], 3)}
                for name, s in timer.summary(last=STAGE_WINDOW).items()}

    def state(self) -> dict[str, Any]:
        """The latest record plus "stages_ms" (per-stage p50s)."""
        with self._cond:
            record = self._record
        base = dict(record) if record is not None else \
            {"schema": SCHEMA, "frame": None, "time": None, "source": None, "detector": None, "faces": [], "fps": None,
             "dropped": 0}
        base["stages_ms"] = {name: s["p50"] for name, s in self.stages().items()}
        return base

    def metrics(self) -> str:
        """Prometheus text exposition."""
        with self._cond:
            frames, faces, viewers = self._frames, self._faces, self._viewers
            fps = float(self._record.get("fps") or 0.0) if self._record else 0.0
        lines = ["# HELP fer_edge_frames_total Frames processed since the start.",
                 "# TYPE fer_edge_frames_total counter", f"fer_edge_frames_total {frames}",
                 "# HELP fer_edge_faces_total Faces recognised, summed over frames.",
                 "# TYPE fer_edge_faces_total counter", f"fer_edge_faces_total {faces}",
                 "# HELP fer_edge_fps Frames per second over the last 30 frames.",
                 "# TYPE fer_edge_fps gauge", f"fer_edge_fps {fps:.3f}",
                 "# HELP fer_edge_viewers Clients reading the MJPEG stream.",
                 "# TYPE fer_edge_viewers gauge", f"fer_edge_viewers {viewers}",
                 f"# HELP fer_edge_stage_ms Stage latency in milliseconds over the last {STAGE_WINDOW} frames.",
                 "# TYPE fer_edge_stage_ms gauge"]
        for name, figures in self.stages().items():
            lines += [f'fer_edge_stage_ms{{stage="{name}",quantile="0.5"}} {figures["p50"]}',
                      f'fer_edge_stage_ms{{stage="{name}",quantile="0.95"}} {figures["p95"]}']
        return "\n".join(lines) + "\n"

    def join_stream(self) -> bool:
        """Count a new viewer in; False when there are already `max_viewers`."""
        with self._cond:
            if self._viewers >= self.options.max_viewers or self._closed:
                return False
            self._viewers += 1
            return True

    def leave_stream(self) -> None:
        with self._cond:
            self._viewers -= 1

    def next_jpeg(self, after: int, timeout: float) -> tuple[int, bytes | None]:
        """The newest frame as JPEG if newer than `after`: (seq, jpeg); (after, None) on timeout; (-1, None) closed.

        A viewer that fell behind skips straight to the newest frame; each frame is encoded once.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._seq > after and self._image is not None), timeout)
            if self._closed:
                return -1, None
            if self._seq <= after or self._image is None:
                return after, None
            seq, image = self._seq, self._image
        with self._encode_lock:
            if self._jpeg_seq < seq:
                ok, buffer = cv2.imencode(".jpg", image, self._jpeg_params)
                if not ok:
                    log.warning("live view: JPEG encoding failed for frame %d", seq)
                    return seq, None
                self._jpeg, self._jpeg_seq = buffer.tobytes(), seq
                self.encoded += 1
            return self._jpeg_seq, self._jpeg

    def page(self) -> str:
        """The live page; it passes the request's token on to its own requests."""
        suffix = f"?token={quote(self.options.token, safe='')}" if self.options.token else ""
        return PAGE.read_text(encoding="utf-8").replace("__Q__", suffix).replace("__COLOURS__",
                                                                                  json.dumps(hex_colours()))
