"""`fer-edge report RUN.jsonl`: a run as one self-contained HTML page (charts embedded as PNG, no network),
and optionally a CSV with one row per face per frame.

The page shows each tracked face's probabilities over time (stacked, in the overlay's label colours), its
dominant-emotion shares and when it was seen; the faces per frame and the FPS over time; and the run's
summary (frames, detector, model, per-stage latency). Charts draw means of consecutive frames (at most
`points` a line), so a long run draws as fast as a short one. matplotlib comes with the `report` extra.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import edge
from edge.errors import FerEdgeError
from edge.files import atomic_path, write_atomic
from edge.render import hex_colours
from edge.run_file import RunFile
from edge.run_stats import AXES, FaceTrack, RunStats, downsample, typical_gap

OTHER_COLOUR = "#a0a0a0"


class ReportError(FerEdgeError):
    """The report cannot be made (matplotlib missing)."""


@dataclass(frozen=True)
class ReportOptions:
    """What `fer-edge report` writes."""

    out: Path | None = None
    """The HTML page (None: the run's path with .html)."""
    csv: Path | None = None
    """Also write one row per face per frame here."""
    axis: str = "clock"
    """clock: seconds since the first frame; frame: frame numbers (for files processed faster than real time)."""
    max_faces: int = 12
    """Timelines for at most this many faces, those seen in the most frames."""
    points: int = 1000
    """At most about this many points per chart line: runs of consecutive frames are averaged."""

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"the time axis must be one of {', '.join(AXES)}, got {self.axis!r}")
        if self.max_faces < 0:
            raise ValueError(f"max faces must be at least 0, got {self.max_faces}")
        if self.points < 10:
            raise ValueError(f"points per line must be at least 10, got {self.points}")


@dataclass(frozen=True)
class Report:
    """What was written."""

    html: Path
    csv: Path | None
    frames: int
    tracks: int
    truncated: bool
    """The run's last line was cut off (a killed run); the report covers the lines before it."""
    seconds: float


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or ReportError naming the extra to install."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ReportError('fer-edge report needs matplotlib: pip install "fer-edge[report]"') from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def make_report(run: str | Path, options: ReportOptions = ReportOptions()) -> Report:
    """Read the run once (writing the CSV as it goes), draw, and write the page; both files atomically."""
    started = time.perf_counter()
    plt = pyplot()
    run_file = RunFile(run)
    out = options.out or run_file.path.with_suffix(".html")
    for target in (out, options.csv):
        if target is not None and target.resolve() == run_file.path.resolve():
            raise ReportError(f"{target}: that is the run itself; write the report elsewhere")
    stats = RunStats(axis=options.axis)
    if options.csv is None:
        for result in run_file:
            stats.add(result)
    else:
        with atomic_path(options.csv) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            rows, header = csv.writer(handle), ["frame", "time", "source", "face", "x", "y", "width", "height",
                                                "label", "score"]
            for result in run_file:
                stats.add(result)
                for face in result.faces:
                    if header:  # the label columns are known from the first face
                        rows.writerow([*header, *stats.labels])
                        header = []
                    rows.writerow([result.index, f"{result.time:.3f}", result.source, face.id, *face.box.as_list(),
                                   face.label, f"{face.score:.4f}",
                                   *(f"{face.probabilities.get(label, 0.0):.4f}" for label in stats.labels)])
            if header:
                rows.writerow(header)
    page = render_page(stats, run_file, options, plt)
    write_atomic(out, page)
    return Report(out, options.csv, stats.frames, len(stats.tracks), run_file.truncated,
                  time.perf_counter() - started)


def render_page(stats: RunStats, run_file: RunFile, options: ReportOptions, plt) -> str:
    colours = hex_colours()
    span = (min(stats.at), max(max(stats.at), min(stats.at) + 1e-9))
    unit = "s since the first frame" if stats.axis == "clock" else "frame"
    tracks = stats.longest_tracks(options.max_faces)
    gap = typical_gap(stats.at)
    parts = [_summary(stats, run_file, options, len(tracks)),
             "<h2>Over the run</h2>", _img(_overview(stats, options.points, unit, plt))]
    if stats.shares():
        parts += ["<h2>Dominant emotion, all faces</h2>", _img(_shares_chart(stats.shares(), colours, plt, 1.8))]
    parts.append("<h2>Faces</h2>")
    if not tracks:
        parts.append("<p>No face was found in this run.</p>")
    for track in tracks:
        parts.append(_face_section(track, stats, span, gap, options.points, unit, colours, plt))
    title = f"fer-edge report: {html.escape(run_file.path.name)}"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title><style>{STYLE}</style>"
            f"</head><body><h1>{title}</h1>{''.join(parts)}<footer>Made by fer-edge {edge.__version__} "
            f"<code>fer-edge report</code> from {html.escape(str(run_file.path))}.</footer></body></html>\n")


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;"
         "text-align:left}td.n{text-align:right}img{max-width:100%}.warn{background:#fff3cd;padding:.5em 1em}"
         "section{margin:1.5em 0;border-top:1px solid #ccc}footer{color:#777;margin-top:3em}"
         ".row{display:flex;flex-wrap:wrap;gap:3em}")


def _summary(stats: RunStats, run_file: RunFile, options: ReportOptions, shown: int) -> str:
    rows = [("source", stats.source), ("detector", stats.detector or "not recorded"),
            ("model", stats.model or "not recorded (a run from before the model was recorded)"),
            ("frames", f"{stats.frames:,}"), ("duration", f"{stats.seconds:,.1f} s"),
            ("mean FPS", f"{stats.mean_fps:.1f}"),
            ("frames with a face", f"{stats.frames_with_faces:,} ({stats.frames_with_faces / stats.frames:.0%})"),
            ("faces per frame", f"{stats.face_frames / stats.frames:.2f}"),
            ("tracked faces", f"{len(stats.tracks):,}" + (f" (timelines below for the {shown} seen longest)"
                                                          if shown < len(stats.tracks) else "")),
            ("dropped frames", f"{stats.dropped:,}")]
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    latency = "".join(f"<tr><td>{html.escape(name)}</td><td class=n>{s['p50']:.2f}</td>"
                      f"<td class=n>{s['p95']:.2f}</td></tr>" for name, s in stats.stage_latency().items())
    warning = (f"<p class=warn>The run's last line was cut off (the run was killed): this report covers the "
               f"{stats.frames:,} complete lines before it.</p>" if run_file.truncated else "")
    return (f"{warning}<div class=row><div><h2>Summary</h2><table>{table}</table></div><div><h2>Latency per "
            f"stage</h2><table><tr><th>stage</th><th>p50 ms</th><th>p95 ms</th></tr>{latency}</table></div></div>")


def _overview(stats: RunStats, points: int, unit: str, plt) -> bytes:
    at, fps = np.asarray(stats.at), np.asarray(stats.fps)
    measured = ~np.isnan(fps)
    figure, (faces_axis, fps_axis) = plt.subplots(2, 1, figsize=(10, 3.4), sharex=True)
    faces_axis.plot(*downsample(at, np.asarray(stats.faces_per_frame, float), points, np.inf), color="#333", lw=1)
    faces_axis.set_ylabel("faces per frame")
    faces_axis.set_ylim(bottom=0, top=max(1, max(stats.faces_per_frame)) * 1.1)
    if measured.any():
        fps_axis.plot(*downsample(at[measured], fps[measured], points, np.inf), color="#2a7", lw=1)
    fps_axis.set_ylabel("FPS")
    fps_axis.set_ylim(bottom=0)
    fps_axis.set_xlabel(unit)
    figure.tight_layout()
    return _png(figure, plt)


def _face_section(track: FaceTrack, stats: RunStats, span: tuple[float, float], gap: float, points: int,
                  unit: str, colours: dict[str, str], plt) -> str:
    at, probabilities = downsample(np.asarray(track.at), np.asarray(track.probabilities), points, gap)
    seen = ~np.isnan(probabilities[:, 0])
    figure, axis = plt.subplots(figsize=(10, 2.6))
    lower = np.zeros(len(at))
    for index, label in enumerate(stats.labels):
        upper = lower + np.nan_to_num(probabilities[:, index])
        axis.fill_between(at, lower, upper, where=seen, color=colours.get(label, OTHER_COLOUR), lw=0, label=label)
        lower = upper
    axis.set_xlim(*span)
    axis.set_ylim(0, 1)
    axis.set_ylabel("probability")
    axis.set_xlabel(unit)
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    timeline = _png(figure, plt)
    first, last = track.at[0], track.at[-1]
    seen_span = f"{first:,.1f}-{last:,.1f} s" if stats.axis == "clock" else f"frames {first:,.0f}-{last:,.0f}"
    shares = ", ".join(f"{label} {share:.0%}" for label, share in track.shares().items())
    name = f"face {track.id}" if track.id else "faces (untracked: --no-smooth)"
    return (f"<section><h3>{name}</h3><p>Seen in {track.frames:,} frames ({track.frames / stats.frames:.0%} of "
            f"the run), {seen_span}. Dominant: {html.escape(shares)}.</p>{_img(timeline)}"
            f"{_img(_shares_chart(track.shares(), colours, plt, 1.6))}</section>")


def _shares_chart(shares: dict[str, float], colours: dict[str, str], plt, height: float) -> bytes:
    figure, axis = plt.subplots(figsize=(10, height))
    labels = list(shares)[::-1]
    values = [shares[label] * 100 for label in labels]
    axis.barh(labels, values, color=[colours.get(label, OTHER_COLOUR) for label in labels])
    for y, value in enumerate(values):
        axis.text(value + 0.5, y, f"{value:.0f}%", va="center", fontsize=8)
    axis.set_xlim(0, 105)
    axis.set_xlabel("% of frames as the dominant emotion")
    figure.tight_layout()
    return _png(figure, plt)


def _png(figure, plt) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _img(png: bytes) -> str:
    return f"<p><img alt=chart src=\"data:image/png;base64,{base64.b64encode(png).decode()}\"></p>"
