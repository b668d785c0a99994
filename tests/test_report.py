"""`fer-edge report`: the HTML page and CSV of a run, long runs, and bad input."""

from __future__ import annotations

import base64
import csv
import json
import logging
import re
import sys

import cv2
import numpy as np
import pytest

from edge.cli import main as edge_main
from edge.report import ReportOptions, make_report
from edge.run_stats import RunStats, downsample
from tests.conftest import SAMPLES
from tests.synthetic_run import write_synthetic_run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real run over the demo clip (two faces, one after the other)."""
    out = tmp_path_factory.mktemp("run") / "demo.jsonl"
    assert edge_main(["--source", str(SAMPLES / "demo.mp4"), "--headless", "--quiet", "--jsonl", str(out)]) == 0
    return out


def _images(page: str) -> list[np.ndarray]:
    return [cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_the_report_of_a_run_is_one_page_with_its_charts_inside(demo_run, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "report.html"
    assert edge_main(["report", str(demo_run), "--out", str(out)]) == 0
    assert f"wrote {out}: 240 frames, 2 tracked faces" in caplog.text
    page = out.read_text()
    records = [json.loads(line) for line in demo_run.read_text().splitlines()]
    assert not re.search(r'(src|href)="(https?:)?//', page), "self-contained: nothing fetched from elsewhere"
    images = _images(page)
    # the overview, the shares over all faces, and a timeline and shares chart per face
    assert len(images) == 2 + 2 * 2 and all(image is not None and image.shape[1] > 500 for image in images)
    for expected in ("demo.mp4", "blazeface", "fer_compact_int8.tflite", "<td>240</td>", "face 1", "face 2",
                     "Seen in 120 frames"):
        assert expected in page
    ids = {face["id"] for record in records for face in record["faces"]}
    assert ids == {1, 2}
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_faces_timeline_draws_its_probabilities_in_the_label_colours(demo_run, tmp_path):
    """Face 2 of the demo clip is happy: its timeline is mostly the overlay's happy colour, and blank
    (white) before it came into view, in the first half."""
    out = tmp_path / "report.html"
    make_report(demo_run, ReportOptions(out=out))
    timeline = _images(out.read_text())[4]  # overview, all-face shares, face 1 timeline, face 1 shares, face 2
    plot = timeline[int(timeline.shape[0] * 0.3):int(timeline.shape[0] * 0.6)]  # a band across the plot
    happy_bgr = np.array([40, 200, 250])
    happy = np.abs(plot.astype(int) - happy_bgr).sum(axis=2) < 40
    width = plot.shape[1]
    assert happy[:, width // 2:].mean() > 0.3 and happy[:, :width // 3].mean() < 0.01


def test_the_csv_has_one_row_per_face_per_frame(demo_run, tmp_path):
    table = tmp_path / "faces.csv"
    make_report(demo_run, ReportOptions(out=tmp_path / "r.html", csv=table))
    rows = list(csv.DictReader(table.open()))
    records = [json.loads(line) for line in demo_run.read_text().splitlines()]
    faces = [(record, face) for record in records for face in record["faces"]]
    assert len(rows) == len(faces) == 240
    for row, (record, face) in zip(rows, faces):
        assert int(row["frame"]) == record["frame"] and int(row["face"]) == face["id"]
        assert row["label"] == face["label"] and [int(row[k]) for k in ("x", "y", "width", "height")] == face["box"]
        assert all(abs(float(row[label]) - p) < 1e-4 for label, p in face["probs"].items())


def test_a_killed_run_is_reported_up_to_its_last_complete_line(demo_run, tmp_path, caplog):
    cut = tmp_path / "killed.jsonl"
    text = demo_run.read_text()
    cut.write_text(text[:len(text) // 2])  # ends inside a line
    complete = text[:len(text) // 2].count("\n")
    assert edge_main(["report", str(cut)]) == 0
    assert f"the last line was cut off (the run was killed); the report covers the {complete} complete" in caplog.text
    assert "the run was killed" in (tmp_path / "killed.html").read_text()


@pytest.mark.parametrize("content, message", [
    ("", "no frame records"),
    ("not json\n", ":1: not a JSON line"),
    ('{"frame": 1}\n', ':1: not a fer-edge frame record (no "schema" field)'),
])
def test_bad_runs_are_one_line_and_exit_2(tmp_path, capsys, content, message):
    run = tmp_path / "bad.jsonl"
    run.write_text(content)
    assert edge_main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "bad.html").exists()


def test_the_report_never_overwrites_its_run(demo_run, capsys):
    assert edge_main(["report", str(demo_run), "--csv", str(demo_run)]) == 2
    assert "that is the run itself" in capsys.readouterr().err


def test_without_matplotlib_the_report_names_the_extra(demo_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what a device install without the extra has
    assert edge_main(["report", str(demo_run), "--out", str(tmp_path / "r.html")]) == 2
    assert 'needs matplotlib: pip install "fer-edge[report]"' in capsys.readouterr().err


def test_an_hour_long_run_is_reported_whole(tmp_path):
    """108,000 frames at 30 FPS (1 hour): every frame counted, the charts drawn from at most `points`
    values a line, so the page stays small. Timing: scripts/bench_report.py."""
    run = write_synthetic_run(tmp_path / "hour.jsonl", 108_000)
    report = make_report(run, ReportOptions(csv=tmp_path / "hour.csv"))
    assert report.frames == 108_000 and report.tracks == 2 and not report.truncated
    page = report.html.read_text()
    assert "<td>108,000</td>" in page and "3,600.0 s" in page  # the duration
    assert report.html.stat().st_size < 1_000_000
    face_rows = sum(1 for _ in report.csv.open()) - 1
    assert face_rows == 108_000 - 108_000 // 50 + 36_000 - 36_000 // 50


def test_downsampling_averages_runs_of_frames_and_breaks_at_gaps():
    at = np.array([0.0, 1, 2, 3, 10, 11])
    values = np.array([1.0, 3, 5, 7, 2, 4])
    xs, ys = downsample(at, values, points=3, gap=5)
    # pieces [0..3] and [10, 11], in runs of 2, with a NaN between the pieces
    assert xs.tolist()[:2] == [0.5, 2.5] and ys.tolist()[:2] == [2.0, 6.0]
    assert np.isnan(ys[2]) and xs[3:].tolist() == [10.5] and ys[3:].tolist() == [3.0]
    xs, ys = downsample(at, values, points=100, gap=np.inf)
    assert xs.tolist() == at.tolist() and ys.tolist() == values.tolist()


def test_run_stats_count_each_faces_frames_and_dominant_shares(tmp_path):
    from edge.run_file import RunFile

    stats = RunStats.of(RunFile(write_synthetic_run(tmp_path / "run.jsonl", 300)), axis="frame")
    face1, face2 = stats.tracks[1], stats.tracks[2]
    assert face1.frames == 300 - 6 and face2.frames == 100 - 2
    assert face2.shares() == {"sad": 1.0}
    assert set(face1.shares()) == {"neutral", "happy"} and stats.at[-1] == 299.0
    every = stats.shares()  # over every face's frames: face 1's 294 and face 2's 98
    assert sum(every.values()) == pytest.approx(1.0) and every["sad"] == pytest.approx(98 / 392)
    assert list(every)[0] in {"neutral", "happy"} and set(every) == {"neutral", "happy", "sad"}
    assert stats.frames_with_faces == 294 and stats.labels[0] == "angry"
