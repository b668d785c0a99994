"""The Markdown report: headline table, what the columns mean, the project's bars, details per contender,
the Pi estimate (on x86), the recipe for real Pi figures and the note on fer's environment."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scripts.bench_compare import checkout_relative
from scripts.bench_compare.contenders import CompareOptions, Outcome
from scripts.bench_compare.environment import FER_INSTALL, FER_REQUIREMENTS, FER_VERSION
from scripts.bench_compare.host import is_x86
from scripts.bench_compare.pi_estimate import pi_section

TABLE_HEADER = ["contender", "FPS", "p50 ms", "p95 ms", "peak RSS MiB", "import s", "start-up s",
                "PublicTest accuracy", "faces/frame", "model"]


def format_accuracy(accuracy: dict[str, Any]) -> str:
    """An accuracy as a percentage, "untrained" or "n/a"."""
    value = accuracy.get("accuracy")
    return f"{value:.2%}" if isinstance(value, float) else ("untrained" if "untrained" in
                                                            accuracy.get("source", "") else "n/a")


def table_row(outcome: Outcome) -> list[str]:
    """One Markdown table row: the contender, then its medians (or why it has none)."""
    c, s = outcome.contender, outcome.summary
    if outcome.status != "ok" or not s:
        reason = outcome.reason + (f"; install: `{outcome.install}`" if outcome.install else "")
        return [c.label, outcome.status, "", "", "", "", "", "", "", reason]
    accuracy = format_accuracy(outcome.accuracy) if outcome.accuracy else "not measured"
    return [c.label, f"{s['fps']:.1f}", f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}", f"{s['peak_rss_mb']:.0f}",
            f"{s['import_s']:.2f}", f"{s['startup_s']:.2f}", accuracy, f"{s['faces_per_frame']:.2f}",
            s.get("model_note", "")]


def format_table(outcomes: list[Outcome]) -> str:
    """The headline Markdown table (the same columns on every machine, so Pi runs compare with ours)."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |",
             "|---|" + "---:|" * (len(TABLE_HEADER) - 2) + "---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in table_row(o)) + " |" for o in outcomes]
    return "\n".join(lines)


def bars(outcomes: list[Outcome]) -> list[str]:
    """The project's bars, measured on this run, for int8 on 1 thread with and without --flip (information, not
    a verdict on other machines)."""
    by = {o.contender.name: o for o in outcomes if o.status == "ok" and o.summary}
    ours_runs = [(by[n], what) for n, what in (("ours-int8-1t", "int8, 1 thread"),
                                                ("ours-int8-flip-1t", "int8 --flip, 1 thread"),
                                                ("ours-accurate-1t", "accurate profile, 1 thread")) if n in by]
    if not ours_runs:
        return ["- ours-int8-1t did not run: no bars to check."]
    lines = []
    for ours, mine in ours_runs:
        for name, need, what in (("tutorial", 10.0, "FPS vs the tutorial loop"), ("fer", 2.5, "FPS vs fer")):
            if name in by:
                ratio = ours.summary["fps"] / by[name].summary["fps"]
                lines.append(f"- {mine}, {what}: **{ratio:.1f}x** (bar: at least {need:g}x) - "
                             f"{'meets' if ratio >= need else 'misses'} it")
        if "fer" in by:
            ratio = by["fer"].summary["peak_rss_mb"] / ours.summary["peak_rss_mb"]
            lines.append(f"- peak memory, fer / {mine}: **{ratio:.1f}x** (bar: at least 4x, i.e. at most a "
                         f"quarter of fer's) - {'meets' if ratio >= 4 else 'misses'} it")
            ours_acc, fer_acc = ours.accuracy.get("accuracy"), by["fer"].accuracy.get("accuracy")
            if isinstance(ours_acc, float) and isinstance(fer_acc, float):
                lines.append(f"- PublicTest accuracy, {mine} vs fer: **{ours_acc:.2%} vs {fer_acc:.2%}** (bar: at "
                             f"least equal) - {'meets' if ours_acc >= fer_acc else 'misses'} it")
    return lines or ["- neither the tutorial loop nor fer ran: no ratios."]


def pi_recipe() -> list[str]:
    return ["## Real figures on a Raspberry Pi", "",
            "On a Raspberry Pi 4 or 5 (64-bit Raspberry Pi OS, Python 3.10-3.12), from a checkout of this project, "
            "one command installs the three environments and writes the same report as this one:", "",
            "```bash",
            'python3 -m venv .venv && .venv/bin/pip install -e ".[train]" && .venv/bin/python -m scripts.bench_compare '
            "--setup-fer --out docs/benchmarks-pi.md --chart docs/benchmarks-pi.png",
            "```", "",
            "`--setup-fer` creates `.venv-fer` with the pinned fer environment if it is missing. FER2013 for the "
            "accuracy column is read from `../shared/data/fer2013` (`--data`); without it our accuracy comes from "
            "the model metadata and fer's is not measured.", ""]


COLUMNS = [
    "What the columns mean:", "",
    "- **FPS**: timed frames / wall time of the loop, video decoding (`cv2.VideoCapture`, the same for all) "
    "included.",
    "- **p50/p95 ms**: per-frame processing latency, decoding excluded.",
    "- **peak RSS**: the worker process's peak resident memory (`ru_maxrss`) at the end of the run: "
    "imports, model, warm-up and the run.",
    "- **import s**: importing the contender's modules; **start-up s**: process spawn to ready for the "
    "first frame (Python start, imports, model and cascade load).",
    "- **PublicTest accuracy**: the classifier on FER2013's 3,589 PublicTest faces. Ours: the project's "
    "evaluation (`fer-eval MODEL DATA`, train/evaluate.py). fer: its emotion classifier on each 48x48 face "
    "with fer's own preprocessing (resize to 64x64, /255, -0.5, x2); fer's labels are FER2013's names in "
    "FER2013's order, mapped by name. The tutorial's model has no trained weights here (no download "
    "allowed), so only its speed is compared. fer's model (Arriaga's mini-Xception) was trained on the "
    "first 80% of fer2013.csv, which is exactly Training, with the rest (PublicTest and PrivateTest) as the "
    "validation set that chose its checkpoint (face_classification: src/train_emotion_classifier.py, "
    "src/utils/datasets.py `split_data`): no PublicTest face was trained on, but its PublicTest figure is "
    "from a model selected on PublicTest, so it is slightly optimistic.",
    "- **faces/frame**: faces found per frame (detectors differ: ours by default BlazeFace short range on "
    "the whole frame plus a small-face scan every 0.5 s, with `--detector haar` Haar at 320 px wide, "
    "minimum face 48 px; the tutorial runs Haar 1.1/4 on the full frame; fer Haar 1.1/5, minimum 50 px, "
    "full frame).", ""]

FER_ENVIRONMENT = [
    "## The `fer` environment", "",
    f"`fer` is installed only for this benchmark, in its own virtual environment ({FER_REQUIREMENTS}): "
    f"`{FER_INSTALL}`. Plain `pip install fer` ({FER_VERSION}) does not give a working install today: it "
    "resolves to opencv-contrib-python 5.x, whose wheel has no Haar cascade files (fer's default face "
    "detector), and to a setuptools without `pkg_resources`, which fer imports; its facenet-pytorch "
    "dependency (only for `mtcnn=True`) pulls PyTorch. fer 25.10.x also no longer re-exports `FER` from "
    "the package (`from fer import FER` fails; `from fer.fer import FER` works).", ""]


def details(outcome: Outcome) -> str:
    """One contender's line under "Details per contender"."""
    c, s = outcome.contender, outcome.summary
    if outcome.status != "ok" or not s:
        return f"- **{c.label}**: {outcome.status}: {outcome.reason}" + \
            (f". Install: `{outcome.install}`" if outcome.install else "")
    versions = ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items())
    stages = ", ".join(f"{k} {v:.2f}" for k, v in s.get("stages_ms", {}).items())
    extra = ""
    if "accuracy_detect_emotions" in outcome.accuracy:
        extra = (f"; accuracy through `detect_emotions` with the whole 48x48 image as the face box "
                 f"(fer's padding and 10 px offsets): {outcome.accuracy['accuracy_detect_emotions']:.2%}")
    return (f"- **{c.label}** (`{c.name}`): {s.get('model_note', '')}; runs with {s.get('interpreter', '')}; "
            f"mean ms per frame by stage: {stages}; decode {s['decode_ms']:.2f} ms; accuracy source: "
            f"{outcome.accuracy.get('source', 'not measured')}{extra}; versions: {versions}.")


def format_report(outcomes: list[Outcome], options: CompareOptions, command: str, host: dict[str, Any],
                  chart_name: str | None) -> str:
    """The whole Markdown document."""
    runs = max((o.summary.get("runs", 0) for o in outcomes if o.summary), default=0)
    frames = max((o.summary.get("frames", 0) for o in outcomes if o.summary), default=0)
    kinds = {"ours": "fer-edge", "tutorial": "the tutorial loop", "fer": "the `fer` package"}
    compared = [name for kind, name in kinds.items() if any(o.contender.kind == kind for o in outcomes)]
    compared = compared if len(compared) > 1 else [o.contender.label for o in outcomes]
    lines = [f"# Side-by-side benchmark: {' vs '.join(compared)}", ""]
    if options.banner:
        lines += [f"> **{options.banner}**", ""]
    lines += [f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by:", "", "```bash", command,
              "```", "",
              f"Machine: {host['board'] + ', ' if host.get('board') else ''}{host['cpu']}, {host['cores']} cores "
              f"({host['arch']}), {host['os']}, Python {host['python']}; "
              f"1-minute load average at start {host['load_1min']}"
              + (" (**the machine was busy: figures are not final**)" if host["load_1min"] > 0.5 else "") + ".", "",
              f"Video: `{checkout_relative(options.video)}`, {frames} timed frames per run after {options.warmup} "
              f"warm-up frames; each figure is the median of {runs} run(s) per contender, contenders interleaved"
              + (" (**fewer than 3 runs: not a final figure**)" if runs < 3 else "") + ".", "",
              format_table(outcomes), ""]
    if chart_name:
        lines += [f"![FPS, peak memory and accuracy per contender]({chart_name})", ""]
    lines += COLUMNS
    lines += ["## Against the project's bars (this run)", "", *bars(outcomes), ""]
    lines += ["## Details per contender", "", *(details(o) for o in outcomes), ""]
    if is_x86(host):
        lines += pi_section(outcomes)
    lines += pi_recipe()
    lines += FER_ENVIRONMENT
    return "\n".join(lines)
