"""scripts/bench_compare.py: skipped peers, bad input, a worker's result, the report's format (no timing asserts)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_compare.py"
VIDEO = ROOT / "samples" / "demo.mp4"


def _load():
    spec = importlib.util.spec_from_file_location("bench_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


bc = _load()


def _worker(*args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), "--worker", *args, "--video", str(VIDEO)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(bc.RESULT_PREFIX)]
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0][len(bc.RESULT_PREFIX):])


def _no_python(tmp_path: Path) -> Path:
    """A 'python' that has nothing installed: every probe fails."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return fake


def test_missing_fer_python_is_skipped_with_the_install_command(tmp_path):
    out = tmp_path / "report.md"
    code = bc.main(["--contenders", "fer", "fer-keras", "--fer-python", str(tmp_path / "none" / "bin" / "python"),
                    "--no-accuracy", "--out", str(out), "--chart", str(tmp_path / "chart.png")])
    assert code == 0
    report = out.read_text()
    assert report.count("| skipped |") == 2
    assert bc.FER_INSTALL in report and "requirements-fer.txt" in bc.FER_INSTALL
    assert not (tmp_path / "chart.png").exists()  # nothing ran, nothing to chart
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_tensorflow_skips_the_tutorial_and_a_fer_env_without_fer_too(tmp_path):
    empty = _no_python(tmp_path)
    options = bc.CompareOptions(tutorial_python=empty, fer_python=empty)
    tutorial = bc.probe(bc.CONTENDERS["tutorial"], options)
    assert tutorial.status == "skipped" and "tensorflow" in tutorial.install
    fer = bc.probe(bc.CONTENDERS["fer"], options)
    assert fer.status == "skipped" and fer.install == bc.FER_INSTALL


def test_missing_video_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--video", str(tmp_path / "none.mp4"),
                           "--out", str(tmp_path / "r.md")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such video" in done.stderr
    assert not (tmp_path / "r.md").exists()


def test_ours_worker_on_three_frames_gives_a_well_formed_result():
    result = _worker("ours", "--frames", "3", "--warmup", "1", "--model", str(ROOT / "models" /
                                                                              "fer_compact_int8.tflite"))
    assert result["frames"] == 3
    assert result["fps"] > 0 and result["p95_ms"] >= result["p50_ms"] > 0
    assert result["peak_rss_mb"] > 0 and result["startup_s"] >= result["import_s"] >= 0
    assert {"detect", "infer", "draw"} <= set(result["stages_ms"])
    assert result["interpreter"] and result["versions"]["python"]


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_tutorial_worker_on_three_frames_gives_a_well_formed_result():
    result = _worker("tutorial", "--frames", "3", "--warmup", "0", env={"KERAS_BACKEND": "tensorflow"})
    assert result["frames"] == 3 and result["fps"] > 0
    assert {"detect", "roi_detect", "preprocess", "infer", "draw"} == set(result["stages_ms"])
    assert "untrained" in result["model_note"] and result["peak_rss_mb"] > 0


def _outcome(name: str, fps: float, rss: float, accuracy: float | None, infer: float = 2.0) -> object:
    summary = {"fps": fps, "p50_ms": 1000 / fps, "p95_ms": 1100 / fps, "mean_ms": 1000 / fps, "decode_ms": 1.0,
               "peak_rss_mb": rss, "import_s": 0.1, "startup_s": 0.3, "faces_per_frame": 1.0, "frames": 240,
               "runs": 3, "stages_ms": {"detect": 1000 / fps - infer, "infer": infer}, "model_note": "m | n"}
    return bc.Outcome(bc.CONTENDERS[name], summary=summary, accuracy={"accuracy": accuracy, "source": "test"})


def test_markdown_table_has_one_row_per_contender_and_the_same_columns():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("fer", 25.0, 680.0, 0.65),
                bc.Outcome(bc.CONTENDERS["tutorial"], status="skipped", reason="no TensorFlow",
                           install=bc.TF_INSTALL)]
    table = bc.format_table(outcomes).splitlines()
    assert table[0].startswith("| contender | FPS |") and len(table) == 2 + len(outcomes)
    columns = len(bc.TABLE_HEADER)
    for line in table:
        cells = line.strip("|").replace("\\|", "").split("|")
        assert len(cells) == columns, line
    assert "| 110.0 |" in table[2] and "64.00%" in table[2] and "m \\| n" in table[2]
    assert "| skipped |" in table[4] and "tensorflow" in table[4]


def test_report_bars_and_pi_estimate():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("tutorial", 5.0, 720.0, None, infer=80.0),
                _outcome("fer", 25.0, 680.0, 0.65)]
    x86 = {"cpu": "x", "board": "", "cores": 2, "arch": "x86_64", "os": "linux", "python": "3.11", "load_1min": 0.1}
    report = bc.format_report(outcomes, bc.CompareOptions(), "python scripts/bench_compare.py", x86, "c.png")
    assert "**22.0x** (bar: at least 10x) - meets it" in report
    assert "**4.4x** (bar: at least 2.5x) - meets it" in report
    assert "64.00% vs 65.00%" in report and "misses it" in report
    assert "ESTIMATE" in report and "![" in report
    estimate = bc.pi_estimate(outcomes[0].summary)
    assert estimate["pi4_ms"][0] <= estimate["pi4_ms"][1]
    assert estimate["pi5_ms"][1] < estimate["pi4_ms"][1] and estimate["pi5_ms"][0] < estimate["pi4_ms"][0]
    on_a_pi = bc.format_report(outcomes, bc.CompareOptions(), "cmd", {**x86, "arch": "aarch64"}, None)
    assert "ESTIMATE" not in on_a_pi and "| contender | FPS |" in on_a_pi


def test_bars_also_for_the_flip_option():
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("ours-int8-flip-1t", 100.0, 86.0, 0.66),
                _outcome("fer", 25.0, 680.0, 0.65)]
    lines = bc.bars(outcomes)
    assert "- PublicTest accuracy, int8, 1 thread vs fer: **64.00% vs 65.00%** (bar: at least equal) - misses it" \
        in lines
    assert "- PublicTest accuracy, int8 --flip, 1 thread vs fer: **66.00% vs 65.00%** (bar: at least equal) - " \
        "meets it" in lines
    assert "- int8 --flip, 1 thread, FPS vs fer: **4.0x** (bar: at least 2.5x) - meets it" in lines


def test_the_flip_contender_asks_the_worker_for_flip():
    flip = bc.worker_command(bc.CONTENDERS["ours-int8-flip-1t"], bc.CompareOptions(), "accuracy")
    plain = bc.worker_command(bc.CONTENDERS["ours-int8-1t"], bc.CompareOptions(), "accuracy")
    assert "--flip" in flip and "--flip" not in plain
    assert bc.accuracy_key(bc.CONTENDERS["ours-int8-flip-1t"]) != bc.accuracy_key(bc.CONTENDERS["ours-int8-1t"])


def test_without_data_our_accuracy_comes_from_the_metadata_but_never_for_flip(tmp_path):
    model = ROOT / "models" / "fer_compact_int8.tflite"
    plain = bc._accuracy_ours(model, tmp_path / "absent")
    assert plain["accuracy"] > 0.5 and plain["source"].startswith("model metadata")
    assert bc._accuracy_ours(model, tmp_path / "absent", flip=True)["accuracy"] is None


def test_chart_is_a_png_written_in_one_piece(tmp_path):
    pytest.importorskip("matplotlib")
    outcomes = [_outcome("ours-int8-1t", 110.0, 85.0, 0.64), _outcome("fer", 25.0, 680.0, 0.65)]
    path = tmp_path / "docs" / "chart.png"
    assert bc.write_chart(outcomes, path)
    assert path.read_bytes().startswith(b"\x89PNG") and [p.name for p in path.parent.iterdir()] == ["chart.png"]
