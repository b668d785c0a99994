"""`fer-edge --serve`: the live page, MJPEG stream, JSON state, metrics, token, faults and many viewers.

Each test runs the real pipeline in a background thread on frames of the demo clip, looped until the
test is done, with a LiveServer on an ephemeral loopback port. Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.classify import ModelOptions
from edge.cli import main as edge_main
from edge.pipeline import Recognizer, RecognizerOptions, default_model
from edge.runner import RunOptions, Summary, run
from edge.serve import LiveServer, ServeError, ServeOptions, parse_address
from edge.sources import FrameSource
from tests.conftest import SAMPLES, heavy_modules_after

DEMO = SAMPLES / "demo.mp4"
CHROMIUM = Path("/usr/bin/chromium")
METRICS = ("fer_edge_frames_total", "fer_edge_faces_total", "fer_edge_fps", "fer_edge_stage_ms")


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """The first second of the demo clip."""
    capture = cv2.VideoCapture(str(DEMO))
    frames = []
    while len(frames) < 30:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert frames, f"cannot read {DEMO}"
    return frames


@pytest.fixture(scope="module")
def model(request) -> Path:
    """The shipped int8 model when the checkout has it, else the tiny one built by the fixtures."""
    shipped = default_model()
    return shipped if shipped.is_file() else request.getfixturevalue("tiny_tflite")["int8"]


class LoopingSource(FrameSource):
    """Loops a clip at about `fps` until `stop` is set or `limit` frames have been delivered."""

    def __init__(self, clip: list[np.ndarray], stop: threading.Event, fps: float = 30.0, limit: int = 3000,
                 live: bool = False) -> None:
        super().__init__()
        self.live = live  # a camera: its frames come on time whether read or not; a late pipeline drops them
        self.clip, self.stop, self.period, self.limit = clip, stop, 1.0 / fps, limit
        self.closed = False

    def frames(self) -> Iterator[np.ndarray]:
        due = time.perf_counter()
        for i in range(self.limit):
            if self.stop.is_set():
                return
            self.stats.frames += 1
            yield self.clip[i % len(self.clip)].copy()  # the run loop draws on its frames
            due += self.period
            time.sleep(max(0.0, due - time.perf_counter()))

    def close(self) -> None:
        self.closed = True


class Running:
    """A pipeline run in a background thread, with its live server."""

    def __init__(self, live: LiveServer, source: LoopingSource) -> None:
        self.live, self.source = live, source
        self.summary: Summary | None = None
        self.error: BaseException | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.live.port}{path}"

    @property
    def frame(self) -> int:
        """The latest published frame number (-1 before the first)."""
        frame = self.live.state()["frame"]
        return -1 if frame is None else frame


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def serving(model: Path, clip: list[np.ndarray], camera: bool = False, **options) -> Iterator[Running]:
    """LiveServer on 127.0.0.1:<ephemeral> around run() in a thread; stops and checks the run at the end."""
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(path=model)))
    live = LiveServer(ServeOptions(port=0, **options), recognizer.timer)
    stop = threading.Event()
    running = Running(live, LoopingSource(clip, stop, live=camera))

    def target() -> None:
        try:
            running.summary = run(recognizer, running.source, [live], RunOptions(report_every=0))
        except BaseException as exc:  # reported to the test below
            running.error = exc

    thread = threading.Thread(target=target, name="pipeline", daemon=True)
    thread.start()
    try:
        wait_until(lambda: running.frame >= 0 or not thread.is_alive(), what="the first frame")
        yield running
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the pipeline did not stop"
    assert running.error is None, running.error
    assert running.summary is not None and running.summary.stopped_by == "end of source"
    assert running.source.closed
    with pytest.raises(OSError):  # closed with the run: the port no longer answers
        socket.create_connection(("127.0.0.1", live.port), timeout=2).close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def read_mjpeg(port: int, count: int, query: str = "", timeout: float = 10.0) -> list[np.ndarray]:
    """Read `count` JPEG parts from /stream.mjpg and decode them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/stream.mjpg" + query)
        response = connection.getresponse()
        assert response.status == 200, response.status
        assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
        stream, images = response.fp, []
        for _ in range(50 * count):  # bounded: lines read
            if len(images) == count:
                break
            if stream.readline().strip() != b"--frame":
                continue
            headers = {}
            while (line := stream.readline().strip()):
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            data = stream.read(int(headers["content-length"]))
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, "a part that is not a JPEG"
            images.append(image)
        assert len(images) == count, f"{len(images)} of {count} frames"
        return images
    finally:
        connection.close()


def test_state_page_and_metrics(model, clip):
    with serving(model, clip) as running:
        wait_until(lambda: running.frame >= 10, what="ten frames")
        status, headers, body = get(running.url("/api/state"))
        assert status == 200 and headers["Content-Type"] == "application/json"
        state = json.loads(body)
        assert set(state) == {"schema", "frame", "time", "source", "detector", "model", "faces", "fps", "dropped",
                              "stages_ms"}
        assert state["frame"] >= 10 and state["fps"] > 0 and abs(state["time"] - time.time()) < 60
        assert {"capture", "detect", "preprocess", "infer", "render"} <= set(state["stages_ms"])
        labels = set(Recognizer(RecognizerOptions(model=ModelOptions(path=model))).classifier.labels)
        faces = [f for _ in range(20) for f in json.loads(get(running.url("/api/state"))[2])["faces"]]
        assert faces, "no face in 20 polls of the demo clip"
        for face in faces:
            assert set(face) == {"id", "box", "label", "score", "probs", "keypoints"}
            assert face["label"] in labels and set(face["probs"]) == labels and len(face["box"]) == 4

        status, headers, page = get(running.url("/"))
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<img id="video" src="/stream.mjpg"' in page and b'fetch("/api/state" + Q' in page
        assert b"://" not in page, "the page must be self-contained"

        status, headers, metrics = get(running.url("/metrics"))
        text = metrics.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        for name in METRICS:
            assert f"\n{name}" in text and f"# TYPE {name} " in text
        assert 'fer_edge_stage_ms{stage="infer",quantile="0.5"}' in text
        assert 'fer_edge_stage_ms{stage="infer",quantile="0.95"}' in text
        assert int(text.split("\nfer_edge_frames_total ")[1].split()[0]) >= 10

        assert get(running.url("/nothing"))[0] == 404
        assert running.live.encoded == 0, "JPEG encoding while nobody watches the stream"


def test_stream_gives_decodable_frames(model, clip):
    with serving(model, clip) as running:
        images = read_mjpeg(running.live.port, 3)
        assert all(image.shape == clip[0].shape for image in images)
        assert 3 <= running.live.encoded <= running.frame + 1
        wait_until(lambda: running.live.viewers == 0, 5, "the viewer to be counted out")


def test_five_concurrent_viewers_all_get_frames(model, clip):
    with serving(model, clip) as running:
        results: dict[int, list[np.ndarray] | BaseException] = {}

        def viewer(index: int) -> None:
            try:
                results[index] = read_mjpeg(running.live.port, 5)
            except BaseException as exc:  # reported below
                results[index] = exc

        threads = [threading.Thread(target=viewer, args=(i,), daemon=True) for i in range(5)]
        first = running.frame
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results) == list(range(5))
        for index, result in results.items():
            assert isinstance(result, list) and len(result) == 5, f"viewer {index}: {result!r}"
        # One encode per frame at most, shared by all viewers.
        assert running.live.encoded <= running.frame - first + 1


@pytest.mark.parametrize("query, headers, status", [
    ("", {}, 401),                                          # nothing
    ("?token=wrong", {}, 401),                              # wrong token in the query
    ("", {"Authorization": "Bearer wrong"}, 401),           # wrong token in the header
    ("", {"Authorization": "Basic czNjcmV0"}, 401),         # another scheme
    ("?token=s3cret", {}, 200),                             # the token in the query
    ("", {"Authorization": "Bearer s3cret"}, 200),          # the token as a bearer header
])
def test_token_is_required_on_every_endpoint(model, clip, query, headers, status):
    with serving(model, clip, token="s3cret") as running:
        for path in ("/", "/api/state", "/metrics"):
            got, response_headers, _ = get(running.url(path + query), headers)
            assert got == status, path
            if status == 401:
                assert response_headers["WWW-Authenticate"].startswith("Bearer")
        connection = http.client.HTTPConnection("127.0.0.1", running.live.port, timeout=10)
        connection.request("GET", "/stream.mjpg" + query, headers=headers)
        assert connection.getresponse().status == status
        connection.close()


def test_the_page_passes_the_token_on(model, clip):
    with serving(model, clip, token="s3cret") as running:
        page = get(running.url("/?token=s3cret"))[2].decode()
        assert 'src="/stream.mjpg?token=s3cret"' in page and 'const Q = "?token=s3cret"' in page
        assert len(read_mjpeg(running.live.port, 1, "?token=s3cret")) == 1


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP reset, as a crashed browser tab does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def frames_published(live: LiveServer) -> int:
    """Frames the pipeline handed to the live view so far (its Prometheus counter)."""
    return int(re.search(r"^fer_edge_frames_total (\d+)$", live.metrics(), re.M).group(1))


def test_viewers_that_vanish_or_stall_do_not_break_the_pipeline(model, clip, caplog):
    caplog.set_level(logging.DEBUG, logger="edge.serve")
    with serving(model, clip, camera=True) as running:
        for close in (rst_close, socket.socket.close):
            sock = socket.create_connection(("127.0.0.1", running.live.port), timeout=10)
            sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while received.count(b"--frame") < 2 and len(received) < 10_000_000:
                received += sock.recv(65536)
            close(sock)  # mid-frame
        stalled = socket.create_connection(("127.0.0.1", running.live.port), timeout=10)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        try:
            # Counted in frames, not seconds: over the next 90 frames of the camera (30 FPS), a pipeline held
            # up by the viewer misses the frames that arrive meanwhile (the newest wins); one that is merely
            # slowed by a loaded machine (it runs at 10x the camera's rate) misses few.
            start, published = running.frame, frames_published(running.live)
            wait_until(lambda: running.frame >= start + 90, 60, "90 camera frames while a viewer does not read")
            seen = frames_published(running.live) - published
            assert seen >= (running.frame - start) // 2, \
                f"the pipeline handled {seen} of {running.frame - start} camera frames while a viewer stalled"
            assert len(read_mjpeg(running.live.port, 2)) == 2, "a new viewer after the faults"
            wait_until(lambda: running.live.viewers == 1, 10, "the vanished viewers to be counted out")
        finally:
            stalled.close()
    problems = [r for r in caplog.records if r.name == "edge.serve" and r.levelno >= logging.WARNING]
    assert not problems, [r.getMessage() for r in problems]


def test_viewers_beyond_the_limit_get_503(model, clip):
    with serving(model, clip, max_viewers=1) as running:
        first = socket.create_connection(("127.0.0.1", running.live.port), timeout=10)
        try:
            first.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_until(lambda: running.live.viewers == 1, 10, "the first viewer")
            status, _, body = get(running.url("/stream.mjpg"))
            assert status == 503 and b"too many viewers" in body
            assert get(running.url("/api/state"))[0] == 200, "the limit is on streams only"
        finally:
            first.close()


def test_port_in_use_is_a_clear_error(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot serve on 127.0.0.1:{port}: .*in use"):
            LiveServer(ServeOptions(port=port))
        out = tmp_path / "faces.jsonl"
        argv = ["--source", str(DEMO), "--headless", "--serve", str(port), "--jsonl", str(out)]
        assert edge_main(argv) == 2
    err = capsys.readouterr().err
    assert f"fer-edge: error: cannot serve on 127.0.0.1:{port}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir()), "no output file left behind"


def test_cli_prints_the_url_and_reads_the_token_from_the_environment(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("FER_EDGE_TOKEN", "from-env")
    argv = ["--source", str(SAMPLES / "grace_hopper.jpg"), "--headless", "--serve", "127.0.0.1:0", "--quiet"]
    assert edge_main(argv) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("live view: ")]
    assert lines and lines[0].startswith("live view: http://127.0.0.1:") and "(add ?token=...)" in lines[0]
    assert "from-env" not in caplog.text


@pytest.mark.parametrize("host, token, warned", [
    ("0.0.0.0", None, "no --token"),     # every interface, open to anyone
    ("0.0.0.0", "s3cret", "knows the token"),  # every interface, token required
    ("127.0.0.1", None, None),           # loopback: no warning
])
def test_binding_beyond_loopback_warns(host, token, warned, caplog):
    """Really listens (on an ephemeral port, closed at once) and reads the warning that is logged."""
    live = LiveServer(ServeOptions(host=host, port=0, token=token))
    live.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and "beyond loopback" in warnings[0] and warned in warnings[0]


@pytest.mark.parametrize("text, expected", [
    ("8080", ("127.0.0.1", 8080)),          # port only: loopback
    (":8080", ("127.0.0.1", 8080)),         # empty host: still loopback, never all interfaces
    ("0.0.0.0:9000", ("0.0.0.0", 9000)),    # every interface, asked for
    ("[::1]:8080", ("::1", 8080)),          # IPv6 in brackets
    ("pi.local:80", ("pi.local", 80)),      # a host name
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "http", "host:", "::1:8080", "8080x"])
def test_parse_address_rejects(text):
    with pytest.raises(ValueError, match="--serve"):
        parse_address(text)


@pytest.mark.parametrize("options, message", [
    ({"port": 70000}, "70000"),             # beyond 65535
    ({"port": -1}, "-1"),
    ({"host": ""}, "host"),
    ({"token": ""}, "token"),               # an empty token would protect nothing
    ({"token": "two words"}, "token"),
    ({"jpeg_quality": 0}, "jpeg_quality"),
    ({"max_viewers": 0}, "max_viewers"),
])
def test_serve_options_validate(options, message):
    with pytest.raises(ValueError, match=message):
        ServeOptions(**options)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("192.168.1.5", False),
    ("pi.local", False),
])
def test_loopback(host, loopback):
    assert ServeOptions(host=host).loopback is loopback


def test_serve_does_not_import_tensorflow():
    assert heavy_modules_after("import edge.serve", timeout=60) == []


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"headless browser test: {CHROMIUM} is not installed "
                    "(apt-get install chromium)")
def test_the_page_in_headless_chromium(model, clip, tmp_path):
    with serving(model, clip, token="s3cret") as running:
        wait_until(lambda: running.live.state()["faces"], what="a face")
        profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
        base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=3000"]
        url = running.url("/?token=s3cret")
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=90,
                             env={**os.environ, "HOME": str(tmp_path)}).stdout
        screenshot = tmp_path / "page.png"
        subprocess.run([*base, "--window-size=1100,1000", f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})
    assert '<img id="video" src="/stream.mjpg?token=s3cret"' in dom, dom[:2000]
    labels = Recognizer(RecognizerOptions(model=ModelOptions(path=model))).classifier.labels
    assert any(f'<span class="label">{label}</span>' in dom for label in labels), dom[:4000]
    assert re.search(r'id="status"[^>]*>live<', dom), "the page's polling did not succeed"
    # the rolling charts: drawn from several polls of the state (they update), one per visible face
    charts = {kind: [(int(samples), int(ink)) for samples, ink in re.findall(
        rf'<canvas {kind}[^>]*data-samples="(\d+)" data-ink="(\d+)"', dom)]
        for kind in ('id="fpschart"', 'class="facechart"')}
    assert charts['id="fpschart"'] and charts['class="facechart"'], dom[:4000]
    (fps_samples, fps_ink), (face_samples, face_ink) = charts['id="fpschart"'][0], charts['class="facechart"'][0]
    # about 10 polls in the 3 s of virtual time: a short line (10-40 pixels), a stacked strip (about 180)
    assert fps_samples >= 3 and fps_ink > 0 and face_samples >= 3 and face_ink > 50, charts
    assert "top of the chart:" in dom
    image = cv2.imread(str(screenshot))
    assert image is not None and image.shape[1] == 1100
    fps_green = np.abs(image.astype(int) - (80, 185, 63)).sum(axis=2) < 30  # the FPS line, #3fb950 in BGR
    assert fps_green.sum() > 5, "no FPS line in the screenshot"
