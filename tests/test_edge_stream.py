"""Frames in, events out: the capture thread, JSONL as a live event stream, --loop, and the result records."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from edge.capture import Capture
from edge.classify import ModelOptions
from edge.cli import main as edge_main
from edge.pipeline import Recognizer, RecognizerOptions
from edge.results import SCHEMA, Box, Face, FrameResult, Prediction
from edge.runner import RunOptions, run
from edge.sinks import JsonlSink, SinkError
from edge.sources import FrameSource, SourceOptions, open_source
from tests.conftest import ROOT, SAMPLES
from tests.test_sources import FakeCapture

DEMO = SAMPLES / "demo.mp4"


class NumberedSource(FrameSource):
    """Frames whose first pixel is their number; `live` ones arrive every `period` seconds whether read or not."""

    def __init__(self, count: int, live: bool = False, period: float = 0.0) -> None:
        super().__init__()
        self.count, self.live, self.period, self.closed = count, live, period, False
        self.name = "numbered"

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(self.count):
            time.sleep(self.period)
            frame = np.zeros((8, 8, 3), np.uint8)
            frame[0, 0] = (i % 256, i // 256, 0)
            self.stats.frames += 1
            yield frame

    def close(self) -> None:
        self.closed = True


def number_of(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])


@pytest.mark.parametrize("threaded", [True, False])
def test_file_frames_are_neither_dropped_nor_reordered(threaded):
    source = NumberedSource(500)
    with Capture(source, threaded=threaded, depth=3) as capture:
        seen = []
        for captured in capture:
            if len(seen) % 50 == 0:
                time.sleep(0.01)  # a slow consumer now and then: the reader must wait, not drop
            seen.append((captured.index, number_of(captured.image), captured.dropped))
    assert seen == [(i, i, 0) for i in range(500)]
    assert capture.dropped == 0 and source.closed


def test_a_live_source_keeps_the_newest_frame_and_counts_the_stale_ones():
    source = NumberedSource(60, live=True, period=0.002)
    taken = []
    with Capture(source) as capture:
        for captured in capture:
            time.sleep(0.01)  # five times slower than the camera
            taken.append(captured)
    indices = [c.index for c in taken]
    assert indices == sorted(indices) and [number_of(c.image) for c in taken] == indices
    assert capture.dropped > 20 and capture.dropped == sum(c.dropped for c in taken)
    assert len(taken) + capture.dropped == 60
    # each frame's count is the gap before it
    assert all(c.dropped == c.index - (p.index + 1) for p, c in zip(taken, taken[1:]))


def test_an_error_in_the_capture_thread_reaches_the_pipeline_and_the_source_is_released():
    class Broken(NumberedSource):
        def frames(self):
            yield from super().frames()
            raise OSError("device unplugged")

    source = Broken(3)
    with pytest.raises(OSError, match="device unplugged"):
        with Capture(source) as capture:
            assert len(list(capture)) == 3
    assert source.closed


def test_stopping_early_joins_the_thread_and_releases_the_source(tiny_tflite):
    source = NumberedSource(10_000)
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(path=tiny_tflite["int8"])))
    summary = run(recognizer, source, [], RunOptions(max_frames=7, report_every=0))
    assert summary.frames == 7 and summary.stopped_by == "max frames" and source.closed
    assert not [t for t in threading.enumerate() if t.name == "fer-edge-capture"]


def test_a_camera_that_stops_delivering_ends_the_run_with_its_summary(monkeypatch, tmp_path):
    frame = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture.factory([[(True, frame)] * 4]))  # then nothing, ever
    out = tmp_path / "faces.jsonl"
    source = open_source(SourceOptions(source="0", retries=1, retry_delay=0.0))
    recognizer = Recognizer()
    summary = run(recognizer, source, [JsonlSink(str(out))], RunOptions(report_every=0))
    # a live source: frames the pipeline was too slow for are dropped, not queued
    assert summary.stopped_by == "source stopped delivering" and summary.frames + summary.dropped == 4
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == summary.frames >= 1 and {r["source"] for r in records} == {"camera 0"}
    assert sum(r["dropped"] for r in records) == summary.dropped
    assert not FakeCapture.opened[0].is_open, "the camera is released"
    assert "stopped by source stopped delivering" in summary.format()


def test_the_cli_prints_the_summary_when_the_camera_goes_away(monkeypatch, tmp_path, capsys):
    frame = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture.factory([[(True, frame)] * 3]))
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", "0", "--headless", "--retries", "0", "--jsonl", str(out)]) == 0
    err = capsys.readouterr().err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert f"{len(records)} frames" in err and "stopped by source stopped delivering" in err
    assert len(records) + sum(r["dropped"] for r in records) == 3 and "Traceback" not in err


def test_a_folder_as_jsonl_target_is_refused_before_the_first_frame(tmp_path, capsys):
    with pytest.raises(SinkError, match="is a folder"):
        JsonlSink(str(tmp_path))
    assert edge_main(["--source", str(DEMO), "--headless", "--jsonl", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to {tmp_path}: it is a folder" in err and "frames," not in err, "the run never started"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="permission denied"):
            JsonlSink(str(tmp_path / "faces.jsonl"))
    finally:
        tmp_path.chmod(0o700)


def start_looping_run(out) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge", "--source", str(DEMO), "--loop", "--headless", "--quiet",
                             "--jsonl", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def lines_once(out, count: int, process: subprocess.Popen, timeout: float = 60) -> list[str]:
    """The file's lines as soon as there are at least `count`, read while `process` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        text = out.read_text() if out.exists() else ""
        if text.count("\n") >= count:
            return text.splitlines(keepends=True)
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} lines after {timeout} s")


def test_a_reader_sees_each_frame_while_the_run_goes_on_and_sigkill_keeps_whole_lines(tmp_path):
    out = tmp_path / "faces.jsonl"
    process = start_looping_run(out)
    try:
        first = lines_once(out, 30, process)
        later = lines_once(out, len(first) + 30, process)  # still growing: nothing waits for the end
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert later[:len(first) - 1] == first[:len(first) - 1]
    text = out.read_text()
    assert text.endswith("\n"), "only whole lines, even after SIGKILL"
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["frame"] for r in records] == list(range(len(records))) and len(records) >= 60
    assert {r["source"] for r in records} == {"demo.mp4"} and all(r["schema"] == SCHEMA for r in records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.jsonl"], "no temp files"


def test_loop_replays_a_file_until_max_frames(tmp_path):
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(SAMPLES / "grace_hopper.jpg"), "--loop", "--max-frames", "5", "--headless",
                      "--quiet", "--jsonl", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4] and all(len(r["faces"]) == 1 for r in records)
    assert records[0]["fps"] is None and all(r["fps"] > 0 for r in records[1:])


def test_a_replay_starts_clean(tmp_path):
    """Each --loop replay of the clip is a cut: the astronaut of the last frames (held by the small-face
    scan, tracked) must not follow Grace Hopper into the next replay."""
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(DEMO), "--loop", "--max-frames", "480", "--headless", "--quiet",
                      "--jsonl", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["faces"]) for r in records] == [1] * 480
    ids = [r["faces"][0]["id"] for r in records]
    assert ids[240] not in ids[:240]  # a new track, not one continued from before the cut


def test_loop_refuses_a_live_source(monkeypatch, capsys):
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture.factory([[]]))
    assert edge_main(["--source", "0", "--loop", "--headless"]) == 2
    assert "--loop replays files" in capsys.readouterr().err


def test_jsonl_appends_only_when_asked(tmp_path):
    out = tmp_path / "faces.jsonl"
    argv = ["--source", str(SAMPLES / "grace_hopper.jpg"), "--headless", "--quiet", "--jsonl", str(out)]
    assert edge_main(argv) == 0 and edge_main(argv) == 0
    assert len(out.read_text().splitlines()) == 1, "truncated by default"
    assert edge_main([*argv, "--append"]) == 0
    assert len(out.read_text().splitlines()) == 2


def test_folder_frames_are_named_after_their_files(tmp_path):
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(SAMPLES), "--headless", "--quiet", "--jsonl", str(out)]) == 0
    assert [json.loads(line)["source"] for line in out.read_text().splitlines()] == \
        ["astronaut.png", "grace_hopper.jpg"]


def test_a_frame_result_survives_the_jsonl_round_trip():
    face = Face(Box(1, 2, 30, 40), Prediction.of(["sad", "happy"], [0.25, 0.75]), id=3,
                keypoints=((10.0, 12.5), (20.0, 12.0)))
    result = FrameResult(7, 1_700_000_000.25, "clip.mp4", (face,), fps=29.5, dropped=2, stages_ms={"detect": 1.5})
    back = FrameResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result and back.faces[0].label == "happy"
    assert "keypoints" not in Face(Box(0, 0, 1, 1), face.prediction).to_dict()
    with pytest.raises(ValueError, match="schema"):
        FrameResult.from_dict({**result.to_dict(), "schema": SCHEMA + 1})


def test_the_readme_documents_the_schema_the_code_writes():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## JSONL events"):]
    section = section[:section.index("\n## ", 4)]
    record = FrameResult(0, 0.0, "x", (Face(Box(0, 0, 1, 1), Prediction.of(["a"], [1.0]), keypoints=()),)).to_dict()
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.M))
    written = set(record) | {f"faces.{k}" for k in record["faces"][0]}
    assert documented == written
    assert f'"schema":{SCHEMA}' in section.replace(" ", "")


def test_the_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    start = section.index("```python") + len("```python")
    code = section[start:section.index("```", start)]
    code = code.replace('"samples/', f'"{SAMPLES}/')
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "100 frames" in result.stdout and "happy" in result.stdout
    assert len((tmp_path / "faces.jsonl").read_text().splitlines()) == 100


def test_a_closed_pipe_ends_the_run_cleanly():
    run_ = subprocess.Popen([sys.executable, "-m", "edge", "--source", str(DEMO), "--loop", "--headless",
                             "--jsonl", "-"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = json.loads(run_.stdout.readline())
    run_.stdout.close()  # as `| head -1` does
    err = run_.communicate(timeout=60)[1].decode()
    assert first["frame"] == 0 and run_.returncode == 0, err
    assert "stopped by output closed" in err and "Traceback" not in err


def test_a_truncated_jpeg_is_a_named_bad_frame_not_a_grey_face(tmp_path, caplog):
    whole = cv2.imencode(".jpg", cv2.imread(str(SAMPLES / "grace_hopper.jpg")))[1].tobytes()  # baseline JPEG
    (tmp_path / "a_whole.jpg").write_bytes(whole)
    (tmp_path / "b_cut.jpg").write_bytes(whole[:len(whole) * 2 // 3])
    out = tmp_path / "faces.jsonl"
    assert edge_main(["--source", str(tmp_path), "--headless", "--jsonl", str(out)]) == 0
    assert [json.loads(line)["source"] for line in out.read_text().splitlines()] == ["a_whole.jpg"]
    assert "b_cut.jpg: truncated JPEG" in caplog.text
    assert cv2.imread(str(tmp_path / "b_cut.jpg")) is not None, "cv2.imread alone decodes the cut file (grey)"


def test_fer_eval_skips_and_names_a_truncated_jpeg(tmp_path, capsys):
    from tests.conftest import write_kaggle_tree
    from train.cli import eval_main

    root = write_kaggle_tree(tmp_path / "fer", {"train": 1, "test": 2})
    victim = sorted((root / "test" / "happy").iterdir())[0]
    data = victim.read_bytes()
    victim.write_bytes(data[:len(data) * 4 // 5])
    assert eval_main([str(ROOT / "models" / "fer_compact_int8.tflite"), str(root)]) == 0
    assert f"skipped 1 unreadable images, first: {victim}: truncated JPEG" in capsys.readouterr().out


def test_a_stream_that_never_answers_gives_up_after_the_timeout(capsys, caplog):
    import logging
    import socket

    caplog.set_level(logging.INFO)
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/live.mjpg"
        started = time.monotonic()
        code = edge_main(["--source", url, "--timeout", "1.5", "--headless", "--retries", "0"])
        waited = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and f"cannot open {url}" in err and "Traceback" not in err
    assert f"connecting to {url} (timeout 1.5 s)" in caplog.text
    assert waited < 15, f"waited {waited:.1f} s for a 1.5 s timeout"
