"""The stage run ahead in its own thread, and the pipeline that detects one frame ahead with it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from edge.ahead import Ahead
from edge.detect import DetectorOptions, ScanOptions
from edge.pipeline import Recognizer, RecognizerOptions
from edge.runner import RunOptions, run
from edge.sinks import JsonlSink
from edge.sources import SourceOptions, open_source

DEMO = Path(__file__).resolve().parent.parent / "samples" / "demo.mp4"


def test_results_come_in_order_from_another_thread() -> None:
    workers = set()

    def work(item: int) -> int:
        workers.add(threading.current_thread().name)
        return item * 10

    with Ahead(iter(range(50)), work, lambda: None, "test-ahead") as ahead:
        assert list(ahead) == [i * 10 for i in range(50)]
    assert workers == {"test-ahead"}


def test_work_runs_ahead_of_the_caller_but_no_further_than_depth() -> None:
    done = []

    def work(item: int) -> int:
        done.append(item)
        return item

    with Ahead(iter(range(100)), work, lambda: None, "test-ahead", depth=2) as ahead:
        assert next(ahead) == 0
        time.sleep(0.2)
        # item 0 taken; 1 and 2 wait in the queue; 3 is done and waits for room
        assert done == [0, 1, 2, 3]


def test_an_error_reaches_the_caller_after_the_items_before_it() -> None:
    def work(item: int) -> int:
        if item == 3:
            raise ValueError("bad item 3")
        return item

    with Ahead(iter(range(10)), work, lambda: None, "test-ahead") as ahead:
        assert [next(ahead) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="bad item 3"):
            next(ahead)


def test_close_stops_a_thread_waiting_for_its_items() -> None:
    gate = threading.Event()

    def items():
        yield 1
        gate.wait()  # an item that arrives only once close_items is called
        yield 2

    ahead = Ahead(items(), lambda item: item, gate.set, "test-ahead")
    assert next(ahead) == 1
    ahead.close()
    assert not ahead._thread.is_alive()


@pytest.mark.parametrize("threaded", [True, False])
def test_inline_and_threaded_give_the_same_items(threaded: bool) -> None:
    with Ahead(iter("abc"), str.upper, lambda: None, "test-ahead", threaded=threaded) as ahead:
        assert list(ahead) == ["A", "B", "C"]


def _run_records(tmp_path: Path, detect_thread: bool) -> list[str]:
    out = tmp_path / f"run-{detect_thread}.jsonl"
    # no scan: its schedule follows the clock, so it would not repeat between two runs
    options = RecognizerOptions(detect_every=2, detector=DetectorOptions(scan=ScanOptions(interval=0)))
    recognizer = Recognizer(options)
    try:
        summary = run(recognizer, open_source(SourceOptions(source=str(DEMO))), [JsonlSink(str(out))],
                      RunOptions(report_every=0, max_frames=300, loop=True, detect_thread=detect_thread))
    finally:
        recognizer.close()
    assert summary.frames == 300
    return out.read_text().splitlines()


def test_detecting_ahead_gives_the_same_faces_as_detecting_in_line(tmp_path: Path) -> None:
    """Boxes, labels, probabilities and track ids match record by record (times and FPS aside), with
    boxes reused every other frame and a --loop replay (a cut) at frame 240."""
    ahead, inline = _run_records(tmp_path, True), _run_records(tmp_path, False)
    faces = [[json.loads(line)["faces"] for line in lines] for lines in (ahead, inline)]
    assert faces[0] == faces[1]
    assert sum(map(len, faces[0])) >= 300
    assert faces[0][240][0]["id"] > faces[0][239][0]["id"], "the replay starts new tracks"


def test_detecting_ahead_needs_the_capture_thread() -> None:
    with pytest.raises(ValueError, match="needs the capture thread"):
        RunOptions(capture_thread=False, detect_thread=True)
