"""Running the comparison: each contender's worker in its own process, `repeats` times, interleaved; the
medians of its runs; each classifier's accuracy once."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.bench_compare import ROOT, peer_worker
from scripts.bench_compare.contenders import CONTENDERS, CompareOptions, Contender, Outcome, model_of
from scripts.bench_compare.environment import probe
from scripts.bench_compare.report import format_accuracy

PEER_WORKER = Path(peer_worker.__file__).resolve()
"""Run as a file in fer's environment, which does not have this project."""
MEDIAN_KEYS = ("fps", "p50_ms", "p95_ms", "mean_ms", "decode_ms", "peak_rss_mb", "import_s", "startup_s",
               "faces_per_frame")


def worker_command(contender: Contender, options: CompareOptions, job: str) -> list[str]:
    """The command line of one contender's worker for one job (video or accuracy), run from the checkout."""
    entry = {"ours": [sys.executable, "-m", "scripts.bench_compare.ours_worker"],
             "tutorial": [str(options.tutorial_python), "-m", "scripts.bench_compare.tutorial_worker"],
             "fer": [str(options.fer_python), str(PEER_WORKER)]}[contender.kind]
    command = [*entry, "--job", job, "--video", str(options.video), "--frames", str(options.frames),
               "--warmup", str(options.warmup), "--data", str(options.data),
               "--model", str(model_of(contender, options)), "--threads", str(contender.threads),
               "--spawned-at", repr(time.time())]
    return command + ([] if contender.fer_tflite else ["--fer-keras"]) + (["--flip"] if contender.flip else []) \
        + (["--detector", contender.detector] if contender.kind == "ours" else [])


def spawn(contender: Contender, options: CompareOptions, job: str) -> dict[str, Any]:
    """Run one worker; its JSON result, or {"error": the last line it printed on stderr}."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}
    if contender.kind in ("tutorial", "fer"):
        env["KERAS_BACKEND"] = "tensorflow"
    command = worker_command(contender, options, job)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=options.timeout, env=env,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {options.timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(peer_worker.RESULT_PREFIX):
            return json.loads(line[len(peer_worker.RESULT_PREFIX):])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return {"error": lines[-1] if lines else f"exit code {done.returncode}, no output"}


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of every figure; stage means too; text fields from the last run."""
    summary: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 4) for k in MEDIAN_KEYS}
    summary["frames"] = runs[-1]["frames"]
    summary["runs"] = len(runs)
    stages = list(dict.fromkeys(name for r in reversed(runs) for name in r.get("stages_ms", {})))
    summary["stages_ms"] = {s: round(statistics.median(r.get("stages_ms", {}).get(s, 0.0) for r in runs), 4)
                            for s in stages}
    for key in ("model", "model_note", "interpreter", "versions"):
        if key in runs[-1]:
            summary[key] = runs[-1][key]
    return summary


def accuracy_key(contender: Contender) -> str:
    """Contenders with the same classifier share one accuracy measurement."""
    return {"ours": f"ours-{contender.variant}{'-flip' if contender.flip else ''}", "tutorial": "tutorial",
            "fer": "fer" if contender.fer_tflite else "fer-keras"}[contender.kind]


def compare(options: CompareOptions, log: Callable[[str], None] = print) -> list[Outcome]:
    """Probe every contender, run the available ones `repeats` times (interleaved), measure accuracy."""
    outcomes = [probe(CONTENDERS[name], options) for name in options.contenders]
    for outcome in outcomes:
        if outcome.status == "skipped":
            log(f"  {outcome.contender.name}: skipped ({outcome.reason}); install: {outcome.install}")
    active = [o for o in outcomes if o.status == "ok"]
    for repeat in range(options.repeats):
        for outcome in active:
            if outcome.status != "ok":
                continue
            result = spawn(outcome.contender, options, "video")
            if "error" in result:
                outcome.status, outcome.reason = "failed", result["error"]
                log(f"  {outcome.contender.name}: failed: {result['error']}")
                continue
            outcome.runs.append(result)
            log(f"  run {repeat + 1}/{options.repeats} {outcome.contender.name}: {result['fps']:.1f} FPS, "
                f"p50 {result['p50_ms']:.1f} ms, peak RSS {result['peak_rss_mb']:.0f} MiB, "
                f"start-up {result['startup_s']:.2f} s")
    accuracies: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.runs:
            outcome.summary = summarize_runs(outcome.runs)
        key = accuracy_key(outcome.contender)
        if outcome.contender.kind == "tutorial":
            outcome.accuracy = {"accuracy": None, "source": "untrained (weights=None): speed only"}
        elif outcome.status == "ok" and options.accuracy:
            if key not in accuracies:
                result = spawn(outcome.contender, options, "accuracy")
                accuracies[key] = ({"accuracy": None, "source": f"failed: {result['error']}"} if "error" in result
                                   else result)
                log(f"  accuracy {key}: {format_accuracy(accuracies[key])} ({accuracies[key].get('source', '')})")
            outcome.accuracy = accuracies[key]
    return outcomes
