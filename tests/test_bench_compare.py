"""scripts.bench_compare: skipped peers, bad input, the workers' results, a whole small run, the report's
format (no timing asserts)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.timing import StageTimer
from scripts.bench_compare import chart, cli, environment, ours_measure, peer_worker, pi_estimate, report, runner
from scripts.bench_compare.contenders import CONTENDERS, CompareError, CompareOptions, Outcome

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT / "samples" / "demo.mp4"
INT8 = ROOT / "models" / "fer_compact_int8.tflite"
FER_PYTHON = ROOT / ".venv-fer" / "bin" / "python"


def _run(*command: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=900, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})


def _result(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(peer_worker.RESULT_PREFIX)]
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0][len(peer_worker.RESULT_PREFIX):])


def _no_python(tmp_path: Path) -> Path:
    """A 'python' that has nothing installed: every probe fails."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return fake


def _short_video(path: Path, frames: int) -> Path:
    """A tiny MJPG clip of `frames` frames, each with the frame's number drawn on it."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_missing_fer_python_is_skipped_with_the_install_command(tmp_path):
    out = tmp_path / "report.md"
    code = cli.main(["--contenders", "fer", "fer-keras", "--fer-python", str(tmp_path / "none" / "bin" / "python"),
                     "--no-accuracy", "--out", str(out), "--chart", str(tmp_path / "chart.png")])
    assert code == 0
    skipped = [line for line in out.read_text().splitlines() if "| skipped |" in line]
    assert len(skipped) == 2 and all(environment.FER_INSTALL.replace("|", "\\|") in row for row in skipped)
    assert "requirements-fer.txt" in environment.FER_INSTALL
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no chart (nothing ran), no temporary file


def test_missing_tensorflow_skips_the_tutorial_and_a_fer_env_without_fer_too(tmp_path):
    empty = _no_python(tmp_path)
    options = CompareOptions(tutorial_python=empty, fer_python=empty)
    tutorial = environment.probe(CONTENDERS["tutorial"], options)
    assert tutorial.status == "skipped" and "tensorflow" in tutorial.install
    fer = environment.probe(CONTENDERS["fer"], options)
    assert fer.status == "skipped" and fer.install == environment.FER_INSTALL


@pytest.mark.parametrize("args, message", [
    (["--video", "{tmp}/none.mp4", "--out", "{tmp}/r.md"], "no such video"),
    (["--repeats", "0", "--out", "{tmp}/r.md"], "repeats must be >= 1"),
    (["--contenders", "fer", "--fer-python", "{tmp}/none/python", "--no-accuracy", "--out", "{tmp}/a-file/r.md"],
     "cannot write to"),
])
def test_errors_the_user_can_fix_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "a-file").write_text("")
    done = _run(sys.executable, "-m", "scripts.bench_compare", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]  # no report, no temporary file


def test_bad_options_are_project_errors_and_value_errors():
    with pytest.raises(CompareError) as caught:
        CompareOptions(frames=-1)
    assert isinstance(caught.value, ValueError)


def test_ours_worker_on_three_frames_gives_a_well_formed_result():
    result = _result(_run(sys.executable, "-m", "scripts.bench_compare.ours_worker", "--video", str(VIDEO),
                          "--frames", "3", "--warmup", "1", "--model", str(INT8)))
    assert result["frames"] == 3 and result["frames_with_faces"] == 3  # the demo clip has a face in every frame
    assert result["fps"] > 0 and result["p95_ms"] >= result["p50_ms"] > 0 and result["decode_ms"] > 0
    assert result["peak_rss_mb"] > 0 and result["startup_s"] >= result["import_s"] >= 0
    assert list(result["stages_ms"]) == ["detect", "preprocess", "infer", "draw"]
    assert sum(result["stages_ms"].values()) <= result["mean_ms"]  # the stages happen inside the timed frame
    assert result["interpreter"] and result["versions"]["python"] and result["versions"]["fer-edge"]


@pytest.mark.parametrize("count, expected", [(0, 5), (3, 3), (12, 12)])
def test_both_video_loops_give_the_video_once_or_exactly_the_frames_asked_for_replaying_it(tmp_path, count,
                                                                                           expected):
    video = str(_short_video(tmp_path / "five.avi", 5))
    timer = StageTimer(window=ours_measure.WHOLE_RUN)
    ours = [int(frame[0, 0, 0]) for frame in ours_measure.video_frames(video, count, timer)]
    peers = [int(frame[0, 0, 0]) for frame, _ in peer_worker.video_frames(video, count)]
    assert len(ours) == len(peers) == expected and timer.summary()["decode"]["n"] == expected
    assert np.allclose(ours, peers, atol=3) and np.allclose(ours, [20 * (i % 5) for i in range(expected)], atol=3)


def test_the_peers_loop_counts_frames_faces_and_percentiles(tmp_path):
    video = str(_short_video(tmp_path / "five.avi", 5))
    seen = []
    result = peer_worker.timed_loop(lambda frame: seen.append(frame) or len(seen) % 2, video, 8, 2)
    assert len(seen) == 2 + 8 and result["frames"] == 8 and result["frames_with_faces"] == 4
    assert result["faces_per_frame"] == 0.5 and result["p95_ms"] >= result["p50_ms"]
    assert peer_worker.percentile([1.0, 2.0, 3.0, 10.0], 50) == 2.5
    assert peer_worker.percentile([1.0, 2.0, 3.0, 10.0], 95) == pytest.approx(np.percentile([1, 2, 3, 10], 95))


def test_the_peer_worker_file_needs_nothing_but_the_standard_library_to_start(tmp_path):
    done = _run(sys.executable, "-I", "-S", str(runner.PEER_WORKER), "--help", cwd=tmp_path)
    assert done.returncode == 0 and "--fer-keras" in done.stdout, done.stderr


@pytest.mark.skipif(not FER_PYTHON.exists(), reason=f"no fer environment at {FER_PYTHON}")
def test_fer_worker_runs_in_the_fer_environment():
    command = runner.worker_command(CONTENDERS["fer"], CompareOptions(frames=2, warmup=0), "video")
    assert command[:2] == [str(FER_PYTHON), str(runner.PEER_WORKER)]
    result = _result(_run(*command, env={"KERAS_BACKEND": "tensorflow"}))
    assert result["frames"] == 2 and {"detect", "infer", "other"} == set(result["stages_ms"])
    assert result["versions"]["fer"] and result["peak_rss_mb"] > 0


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_tutorial_worker_on_three_frames_gives_a_well_formed_result():
    result = _result(_run(sys.executable, "-m", "scripts.bench_compare.tutorial_worker", "--video", str(VIDEO),
                          "--frames", "3", "--warmup", "0", env={"KERAS_BACKEND": "tensorflow"}))
    assert result["frames"] == 3 and result["fps"] > 0
    assert {"detect", "roi_detect", "preprocess", "infer", "draw"} == set(result["stages_ms"])
    assert "untrained" in result["model_note"] and result["peak_rss_mb"] > 0


def test_a_small_whole_run_writes_the_report_the_chart_and_every_run(tmp_path):
    pytest.importorskip("matplotlib")
    out, png, runs = tmp_path / "docs" / "report.md", tmp_path / "docs" / "chart.png", tmp_path / "runs.json"
    code = cli.main(["--contenders", "ours-int8-1t", "tutorial", "--tutorial-python", str(_no_python(tmp_path)),
                     "--repeats", "2", "--frames", "3", "--warmup", "0", "--no-accuracy", "--out", str(out),
                     "--chart", str(png), "--json", str(runs)])
    assert code == 0
    text = out.read_text()
    assert "python -m scripts.bench_compare --contenders ours-int8-1t tutorial" in text
    assert "3 timed frames per run after 0 warm-up frames; each figure is the median of 2 run(s)" in text
    row = next(line for line in text.splitlines() if line.startswith("| fer-edge int8, 1 thread |"))
    assert row.count("|") == len(report.TABLE_HEADER) + 1 and "| not measured | 1.00 |" in row
    assert "| tutorial loop (Keras MobileNetV2) | skipped |" in text and "![" in text and "(chart.png)" in text
    assert png.read_bytes().startswith(b"\x89PNG")
    outcomes = json.loads(runs.read_text())["outcomes"]
    assert [len(o["runs"]) for o in outcomes] == [2, 0] and outcomes[0]["summary"]["frames"] == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["chart.png", "report.md"]


def _outcome(name: str, fps: float, rss: float, accuracy: float | None, infer: float = 2.0) -> Outcome:
    summary = {"fps": fps, "p50_ms": 1000 / fps, "p95_ms": 1100 / fps, "mean_ms": 1000 / fps, "decode_ms": 1.0,
               "peak_rss_mb": rss, "import_s": 0.1, "startup_s": 0.3, "faces_per_frame": 1.0, "frames": 240,
               "runs": 3, "stages_ms": {"detect": 1000 / fps - infer, "infer": infer}, "model_note": "m | n"}
    return Outcome(CONTENDERS[name], summary=summary, accuracy={"accuracy": accuracy, "source": "test"})


def test_medians_over_runs_per_figure_and_per_stage():
    runs = [{"fps": f, "p50_ms": 1.0, "p95_ms": 2.0, "mean_ms": m, "decode_ms": 0.5, "peak_rss_mb": r,
             "import_s": 0.1, "startup_s": 0.2, "faces_per_frame": 1.0, "frames": 9,
             "stages_ms": {"detect": d, "infer": 1.0}, "model_note": note}
            for f, m, r, d, note in ((100.0, 3.0, 90.0, 2.0, "a"), (300.0, 9.0, 80.0, 1.0, "b"),
                                     (200.0, 6.0, 99.0, 4.0, "c"))]
    summary = runner.summarize_runs(runs)
    assert (summary["fps"], summary["mean_ms"], summary["peak_rss_mb"]) == (200.0, 6.0, 90.0)
    assert summary["stages_ms"] == {"detect": 2.0, "infer": 1.0} and summary["runs"] == 3
    assert summary["model_note"] == "c" and summary["frames"] == 9


def test_markdown_table_has_one_row_per_contender_and_the_same_columns():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("fer", 25.0, 680.0, 0.65),
                Outcome(CONTENDERS["tutorial"], status="skipped", reason="no TensorFlow",
                        install=environment.TF_INSTALL)]
    table = report.format_table(outcomes).splitlines()
    assert table[0].startswith("| contender | FPS |") and len(table) == 2 + len(outcomes)
    columns = len(report.TABLE_HEADER)
    for line in table:
        cells = line.strip("|").replace("\\|", "").split("|")
        assert len(cells) == columns, line
    assert "| 110.0 |" in table[2] and "64.00%" in table[2] and "m \\| n" in table[2]
    assert "| skipped |" in table[4] and "tensorflow" in table[4]


def test_report_bars_and_pi_estimate():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("tutorial", 5.0, 720.0, None, infer=80.0),
                _outcome("fer", 25.0, 680.0, 0.65)]
    x86 = {"cpu": "x", "board": "", "cores": 2, "arch": "x86_64", "os": "linux", "python": "3.11", "load_1min": 0.1}
    text = report.format_report(outcomes, CompareOptions(), "python -m scripts.bench_compare", x86, "c.png")
    assert "**22.0x** (bar: at least 10x) - meets it" in text
    assert "**4.4x** (bar: at least 2.5x) - meets it" in text
    assert "64.00% vs 65.00%" in text and "misses it" in text
    assert "ESTIMATE" in text and "![" in text
    estimate = pi_estimate.pi_estimate(outcomes[0].summary)
    assert estimate["pi4_ms"][0] <= estimate["pi4_ms"][1]
    assert estimate["pi5_ms"][1] < estimate["pi4_ms"][1] and estimate["pi5_ms"][0] < estimate["pi4_ms"][0]
    on_a_pi = report.format_report(outcomes, CompareOptions(), "cmd", {**x86, "arch": "aarch64"}, None)
    assert "ESTIMATE" not in on_a_pi and "| contender | FPS |" in on_a_pi


def test_pi_estimate_scales_cnn_and_other_costs_by_their_published_ratios():
    summary = {"mean_ms": 10.0, "decode_ms": 2.0, "stages_ms": {"detect": 6.0, "infer": 1.0}}
    haar = pi_estimate.ratio_range(pi_estimate.HAAR_PI4_VS_X86)
    cnn = pi_estimate.ratio_range(pi_estimate.CNN_PI4_VS_X86)
    haar_detector = pi_estimate.pi_estimate(summary)
    assert haar_detector["host_ms"] == (1.0, 11.0)
    assert haar_detector["pi4_ms"] == pytest.approx((11.0 * haar[0] + cnn[0], 11.0 * haar[1] + cnn[1]))
    assert pi_estimate.pi_estimate(summary, cnn_detector=True)["host_ms"] == (7.0, 5.0)


def test_bars_also_for_the_flip_option():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("ours-int8-flip-1t", 100.0, 86.0, 0.66),
                _outcome("fer", 25.0, 680.0, 0.65)]
    lines = report.bars(outcomes)
    assert "- PublicTest accuracy, int8, 1 thread vs fer: **64.00% vs 65.00%** (bar: at least equal) - misses it" \
        in lines
    assert "- PublicTest accuracy, int8 --flip, 1 thread vs fer: **66.00% vs 65.00%** (bar: at least equal) - " \
        "meets it" in lines
    assert "- int8 --flip, 1 thread, FPS vs fer: **4.0x** (bar: at least 2.5x) - meets it" in lines


def test_the_flip_contender_asks_the_worker_for_flip():
    flip = runner.worker_command(CONTENDERS["ours-int8-flip-1t"], CompareOptions(), "accuracy")
    plain = runner.worker_command(CONTENDERS["ours-int8-1t"], CompareOptions(), "accuracy")
    assert "--flip" in flip and "--flip" not in plain
    assert runner.accuracy_key(CONTENDERS["ours-int8-flip-1t"]) != runner.accuracy_key(CONTENDERS["ours-int8-1t"])


def test_the_title_names_what_was_compared():
    options = CompareOptions()
    host = {"cpu": "x", "board": "", "cores": 2, "arch": "x86_64", "os": "linux", "python": "3.11", "load_1min": 0.1}
    peers = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("fer", 25.0, 680.0, 0.65)]
    assert report.format_report(peers, options, "cmd", host, None).startswith(
        "# Side-by-side benchmark: fer-edge vs the `fer` package\n")
    profiles = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("ours-accurate-1t", 90.0, 95.0, 0.67)]
    assert report.format_report(profiles, options, "cmd", host, None).startswith(
        "# Side-by-side benchmark: fer-edge int8, 1 thread vs fer-edge --profile accurate, 1 thread\n")


def test_the_accurate_contender_runs_the_accurate_profiles_file(tmp_path):
    options = CompareOptions(accurate_model=tmp_path / "accurate.tflite")
    command = runner.worker_command(CONTENDERS["ours-accurate-1t"], options, "video")
    assert command[command.index("--model") + 1] == str(tmp_path / "accurate.tflite")
    assert runner.accuracy_key(CONTENDERS["ours-accurate-1t"]) != runner.accuracy_key(CONTENDERS["ours-int8-1t"])
    skipped = environment.probe(CONTENDERS["ours-accurate-1t"], options)
    assert skipped.status == "skipped" and skipped.reason == f"{tmp_path / 'accurate.tflite'}: no such model"


def test_without_data_our_accuracy_comes_from_the_metadata_but_never_for_flip(tmp_path):
    plain = ours_measure.accuracy(INT8, tmp_path / "absent")
    assert plain["accuracy"] > 0.5 and plain["source"].startswith("model metadata")
    assert ours_measure.accuracy(INT8, tmp_path / "absent", flip=True)["accuracy"] is None


def test_chart_is_a_png_written_in_one_piece(tmp_path):
    pytest.importorskip("matplotlib")
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("fer", 25.0, 680.0, 0.65)]
    path = tmp_path / "docs" / "chart.png"
    assert chart.write_chart(outcomes, path)
    assert path.read_bytes().startswith(b"\x89PNG") and [p.name for p in path.parent.iterdir()] == ["chart.png"]
