"""The report's chart: FPS, peak memory and accuracy per contender, as a PNG (needs matplotlib)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from edge.files import atomic_path
from scripts.bench_compare.contenders import Outcome
from scripts.bench_compare.outputs import make_parent


def write_chart(outcomes: list[Outcome], path: Path, banner: str = "") -> bool:
    """FPS, peak memory and accuracy per contender as a PNG; False when matplotlib is missing or nothing ran."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    done = [o for o in outcomes if o.status == "ok" and o.summary]
    if not done:
        return False
    labels = [o.contender.label for o in done][::-1]
    colours = ["#2b7bba" if o.contender.kind == "ours" else "#d9822b" if o.contender.kind == "fer" else "#8c8c8c"
               for o in done][::-1]
    panels = (("FPS (higher is better)", [o.summary["fps"] for o in done][::-1], "{:.1f}"),
              ("peak RSS, MiB (lower is better)", [o.summary["peak_rss_mb"] for o in done][::-1], "{:.0f}"),
              ("PublicTest accuracy, % (tutorial: untrained)",
               [100 * (o.accuracy.get("accuracy") or 0.0) for o in done][::-1], "{:.1f}"))
    heading = textwrap.fill("fer-edge vs alternatives" + (f" - {banner}" if banner else ""), 150)
    figure, axes = plt.subplots(1, 3, figsize=(15, 0.55 * len(done) + 1.8 + 0.2 * heading.count("\n")), sharey=True)
    for axis, (title, values, fmt) in zip(axes, panels):
        bars = axis.barh(labels, values, color=colours)
        axis.set_title(title, fontsize=10)
        axis.bar_label(bars, labels=[fmt.format(v) if v else "" for v in values], fontsize=8, padding=2)
        axis.margins(x=0.18)
        axis.tick_params(labelsize=8)
    figure.suptitle(heading, fontsize=11)
    figure.tight_layout()
    try:
        make_parent(path)
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(figure)
    return True
