"""`fer-edge`: real-time facial-emotion recognition on a camera, video, image, folder or stream.

  fer-edge [options]          run the pipeline (default: camera 0, the shipped int8 model)
  fer-edge info MODEL         print a model's embedded metadata
  fer-edge bench [options]    interpreter latency per model and thread count; pipeline FPS on a video
  fer-edge report RUN.jsonl   a run as an HTML page of charts (and a CSV with --csv)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from edge.classify import INTERPRETERS, Classifier, ModelOptions
from edge.errors import FerEdgeError
from edge.files import write_atomic
from edge.flags import add_detector_flags, add_model_flags, describe_detector, detector_options, model_options
from edge.help_format import command_parser, error_text
from edge.model_file import PROFILES, default_model
from edge.mqtt import MqttOptions
from edge.pipeline import RecognizerOptions
from edge.runner import RunOptions
from edge.sinks import Sink
from edge.sources import SourceError, SourceOptions, open_source
from edge.track import TrackerOptions

if TYPE_CHECKING:
    from edge.mqtt import MqttSink
    from edge.serve import LiveServer
    from edge.timing import StageTimer

log = logging.getLogger("edge")

TRACKER, SOURCE, RECOGNIZER, RUN = TrackerOptions(), SourceOptions(), RecognizerOptions(), RunOptions()
MQTT = MqttOptions(host="localhost", topic="fer-edge")


def run_parser() -> argparse.ArgumentParser:
    p = command_parser("fer-edge", __doc__)
    p.add_argument("--model", type=Path, default=None,
                   help="a .tflite model (default: the shipped model of --profile)")
    p.add_argument("--source", type=str, default=SOURCE.source,
                   help="camera index, picam, video file, image, image folder, or rtsp/http URL")
    p.add_argument("--width", type=int, default=SOURCE.width, help="camera frame width")
    p.add_argument("--height", type=int, default=SOURCE.height, help="camera frame height")
    p.add_argument("--timeout", type=float, default=SOURCE.timeout,
                   help="stream URLs: seconds to wait for the connection and for each frame")
    p.add_argument("--retries", type=int, default=SOURCE.retries,
                   help="reconnection attempts when a camera or stream stops delivering (0 = end the run at once)")
    add_model_flags(p)
    add_detector_flags(p)
    p.add_argument("--detect-every", type=int, default=RECOGNIZER.detect_every,
                   help="detect every k-th frame and reuse boxes in between")
    p.add_argument("--smoothing", type=float, default=TRACKER.smoothing,
                   help="weight of the past in the per-face moving average")
    p.add_argument("--no-smooth", action="store_true", help="no tracking or smoothing: raw per-frame labels")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--display", dest="display", action="store_const", const=True, default=None,
                      help="show a window (default: when a display is available)")
    view.add_argument("--headless", dest="display", action="store_const", const=False, help="never show a window")
    p.add_argument("--save", type=str, default=None, help="write the annotated video here (.mp4 or .avi)")
    p.add_argument("--jsonl", type=str, default=None,
                   help="write one JSON line per frame here as it is done ('-' = stdout); an existing file is "
                        "truncated at start unless --append")
    p.add_argument("--append", action="store_true", help="--jsonl: add to an existing file instead of truncating it")
    p.add_argument("--loop", action="store_true", help="replay a video, image or folder until Ctrl-C or --max-frames")
    p.add_argument("--max-frames", type=int, default=RUN.max_frames, help="stop after N frames (0 = no limit)")
    p.add_argument("--report-every", type=float, default=RUN.report_every, help="seconds between FPS lines")
    p.add_argument("--quiet", action="store_true", help="no FPS lines or summary on the terminal")
    p.add_argument("--serve", type=str, default=None, metavar="[HOST:]PORT",
                   help="live view in a browser: page, MJPEG stream, /api/state, /metrics; HOST is 127.0.0.1 "
                        "unless given")
    p.add_argument("--token", type=str, default=None,
                   help="--serve: require this token on every request (if unset: $FER_EDGE_TOKEN, else no token)")
    p.add_argument("--mqtt", type=str, default=None, metavar="[USER@]HOST[:PORT][/TOPIC]",
                   help="publish each face's emotion, the face count and the device's availability to this MQTT "
                        "broker; PORT 1883 (8883 with TLS) and TOPIC fer-edge/HOSTNAME unless given; the password "
                        "and TLS come from $FER_EDGE_MQTT_PASSWORD, $FER_EDGE_MQTT_TLS, $FER_EDGE_MQTT_CAFILE")
    p.add_argument("--mqtt-rate", type=float, default=MQTT.rate,
                   help="--mqtt: most messages a second per face (and for the face count) while its emotion stays "
                        "the same; a change goes out at once")
    p.add_argument("--mqtt-discovery", action="store_true",
                   help="--mqtt: announce the device to Home Assistant (retained discovery messages under "
                        "homeassistant/)")
    return p


def bench_parser() -> argparse.ArgumentParser:
    from edge.bench import CAPTURE_MODES, BenchOptions

    d = BenchOptions()
    p = command_parser("fer-edge bench", "Latency of models and of the pipeline.")
    p.add_argument("--models", type=Path, nargs="+", default=None,
                   help="models to time (default: the fast profile's int8 and float32 models)")
    p.add_argument("--profiles", type=str, nargs="+", choices=tuple(PROFILES), default=None,
                   help="time the shipped models of these profiles instead (the pipeline runs them side by side, "
                        "pass by pass)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time")
    p.add_argument("--interpreter", type=str, choices=INTERPRETERS, default="auto", help="interpreter package")
    p.add_argument("--flip", action="store_true", help="time flip-averaged classification (face and mirror)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed invokes first")
    p.add_argument("--runs", type=int, default=d.runs, help="timed invokes")
    p.add_argument("--video", type=Path, default=None, help="also time the whole pipeline on this video")
    add_detector_flags(p)
    p.add_argument("--capture", type=str, nargs="+", choices=CAPTURE_MODES, default=["ahead"],
                   help="pipeline: ahead = read frames in a capture thread and detect faces one frame ahead in "
                        "another; thread = read ahead only; inline = all in the pipeline's thread; several "
                        "alternate pass by pass")
    p.add_argument("--max-frames", type=int, default=0, help="pipeline: stop after N frames (0 = whole video)")
    p.add_argument("--passes", type=int, default=1,
                   help="pipeline: passes over the video (memory over time; FPS is the median of the passes)")
    p.add_argument("--json", type=str, default=None, help="also write the figures as JSON here ('-' = stdout)")
    return p


def cmd_info(argv: list[str]) -> int:
    p = command_parser("fer-edge info", "Print a model's embedded metadata.")
    p.add_argument("model", type=Path, help="a .tflite model")
    add_detector_flags(p)
    args = p.parse_args(argv)
    classifier = Classifier.from_options(ModelOptions(path=args.model))
    info = json.loads(classifier.info.to_json())
    info["interpreter"] = classifier.backend
    info["batchable"] = classifier.batchable
    info["detector"] = describe_detector(detector_options(args))
    print(json.dumps(info, indent=1))
    return 0


def cmd_bench(argv: list[str]) -> int:
    from edge.bench import (
        BenchOptions,
        detector_latency,
        format_detector_table,
        format_latency_table,
        invoke_latency,
        pipeline_figures,
    )

    args = bench_parser().parse_args(argv)
    options = BenchOptions(warmup=args.warmup, runs=args.runs)
    if args.models and args.profiles:
        raise ValueError("give --models or --profiles, not both")
    models = args.models or [ModelOptions(profile=profile).resolved_path for profile in args.profiles or ()] or [
        default_model(), default_model().with_name(default_model().name.replace("_int8", "_float32"))]
    model_options = [ModelOptions(path=model, threads=threads, interpreter=args.interpreter, flip=args.flip)
                     for model in models for threads in args.threads]
    rows = [invoke_latency(model, options) for model in model_options]
    print(format_latency_table(rows))
    figures: dict = {"invoke": rows}
    if args.video is not None:
        if not args.video.is_file():
            raise SourceError(f"{args.video}: no such video")
        figures["detectors"] = detector_latency(args.video, detector_options(args), max_frames=args.max_frames,
                                                interpreter=args.interpreter)
        print(format_detector_table(figures["detectors"]))
        rows = pipeline_figures(args.video, [RecognizerOptions(model=model, detector=detector_options(args))
                                             for model in model_options], args.max_frames, args.passes,
                                tuple(args.capture))
        figures["pipeline"] = rows
        for row in rows:
            print(f"pipeline {Path(row['model']).name} threads={row['threads']} detector={row['detector']} "
                  f"capture={row['capture']}: "
                  f"{row['fps']:.1f} FPS (median of {args.passes}: {row['fps_per_pass']}), faces in "
                  f"{row['face_frame_share']:.1%} of {row['frames']} frames, peak RSS MiB after each pass "
                  f"{row['peak_rss_mb_after_pass']}, stages p50 ms: "
                  + ", ".join(f"{k} {v['p50']:.2f}" for k, v in row["stages_ms"].items()))
        if len(rows) == 2:
            names = [f"{Path(row['model']).name} {row['threads']}t {row['capture']}" for row in rows]
            print(f"pipeline, side by side: {names[0]} / {names[1]} = {rows[0]['fps'] / rows[1]['fps']:.3f}")
    if args.json == "-":
        print(json.dumps(figures))
    elif args.json:
        write_atomic(Path(args.json), json.dumps(figures))
    return 0


def cmd_run(argv: list[str]) -> int:
    from edge.pipeline import Recognizer
    from edge.runner import run
    from edge.sinks import JsonlSink, VideoSink, WindowSink, has_display

    args = run_parser().parse_args(argv)
    detector = detector_options(args)
    model = model_options(args)
    run_options = RunOptions(max_frames=args.max_frames, loop=args.loop,
                             report_every=0 if args.quiet else args.report_every)
    display = has_display() if args.display is None else args.display
    if args.token and not args.serve:
        raise ValueError("--token only applies to --serve")
    if args.append and not args.jsonl:
        raise ValueError("--append only applies to --jsonl")
    mqtt = _mqtt_options(args)  # before the model loads: a bad target or a missing paho fails at once
    recognizer = Recognizer(RecognizerOptions(
        model=model, smooth=not args.no_smooth, detect_every=args.detect_every, detector=detector,
        tracker=TrackerOptions(smoothing=args.smoothing)))
    info = recognizer.classifier.info
    if not args.quiet:
        log.info("model %s (%s, %s I/O), interpreter %s, %d thread(s), detector %s", recognizer.model_path.name,
                 info.variant, info.io_dtype, recognizer.classifier.backend, args.threads, recognizer.detector.name)
    source = open_source(SourceOptions(source=args.source, width=args.width, height=args.height,
                                       retries=args.retries, loop=args.loop, timeout=args.timeout))
    sinks: list[Sink] = []
    with contextlib.ExitStack() as on_failure:  # if an output cannot be opened, release what was opened
        on_failure.callback(source.close)
        if args.save:
            sinks.append(_discard_on_failure(on_failure, VideoSink(args.save, fps=source.fps)))
        if display:
            sinks.append(_discard_on_failure(on_failure, WindowSink()))
        if args.serve:
            sinks.append(_discard_on_failure(on_failure, _live_server(args, recognizer.timer)))
        if mqtt is not None:
            sinks.append(_discard_on_failure(on_failure, _mqtt_sink(mqtt)))
        if args.jsonl:  # last: it creates its file at once
            sinks.append(_discard_on_failure(on_failure, JsonlSink(args.jsonl, append=args.append)))
        on_failure.pop_all()  # all opened: run() owns and closes them from here
    try:
        summary = run(recognizer, source, sinks, run_options)
    finally:
        recognizer.close()
    if not args.quiet:
        print(summary.format(), file=sys.stderr)
    return 0


def _discard_on_failure(stack: contextlib.ExitStack, sink: Sink) -> Sink:
    stack.callback(sink.discard)
    return sink


def _live_server(args: argparse.Namespace, timer: StageTimer) -> LiveServer:
    """The --serve live view, listening; prints its address."""
    from edge.serve import TOKEN_ENV, LiveServer, ServeOptions, parse_address

    host, port = parse_address(args.serve)
    live = LiveServer(ServeOptions(host=host, port=port, token=args.token or os.environ.get(TOKEN_ENV) or None),
                      timer)
    log.info("live view: %s%s", live.url, " (add ?token=...)" if live.options.token else "")
    return live


def report_parser() -> argparse.ArgumentParser:
    from edge.report import ReportOptions

    d = ReportOptions()
    p = command_parser("fer-edge report", "A --jsonl run as one self-contained HTML page: each face's emotions "
                                          "over time, faces and FPS over time, and the run's summary.")
    p.add_argument("run", type=Path, help="the run's --jsonl file")
    p.add_argument("--out", type=Path, default=None, help="the HTML page (default: the run's path with .html)")
    p.add_argument("--csv", type=Path, default=None, help="also write one row per face per frame here")
    p.add_argument("--time", type=str, choices=("clock", "frame"), default=d.axis,
                   help="time axis: clock = seconds since the first frame; frame = frame numbers (for a file "
                        "processed faster than real time)")
    p.add_argument("--max-faces", type=int, default=d.max_faces,
                   help="timelines for at most this many faces, those seen longest")
    p.add_argument("--points", type=int, default=d.points, help="points per chart line (frames are averaged)")
    return p


def cmd_report(argv: list[str]) -> int:
    from edge.report import ReportOptions, make_report

    args = report_parser().parse_args(argv)
    report = make_report(args.run, ReportOptions(out=args.out, csv=args.csv, axis=args.time,
                                                 max_faces=args.max_faces, points=args.points))
    if report.truncated:
        log.warning("%s: the last line was cut off (the run was killed); the report covers the %d complete "
                    "lines before it", args.run, report.frames)
    written = " and ".join(str(path) for path in (report.html, report.csv) if path is not None)
    log.info("wrote %s: %d frames, %d tracked faces, in %.1f s", written, report.frames, report.tracks,
             report.seconds)
    return 0


def _mqtt_options(args: argparse.Namespace) -> MqttOptions | None:
    """The --mqtt options (the password and TLS from the environment), after checking paho-mqtt is installed."""
    from edge.mqtt import mqtt_options, require_paho

    if args.mqtt is None:
        if args.mqtt_discovery or args.mqtt_rate != MQTT.rate:
            raise ValueError("--mqtt-rate and --mqtt-discovery only apply to --mqtt")
        return None
    options = mqtt_options(args.mqtt, os.environ, rate=args.mqtt_rate, discovery=args.mqtt_discovery)
    require_paho()
    return options


def _mqtt_sink(options: MqttOptions) -> MqttSink:
    """The --mqtt sink, connecting in its own thread; logs where it publishes."""
    from edge.mqtt import MqttSink

    log.info("MQTT: publishing to %s%s", options.address,
             f" as {options.username}" if options.username else "")
    return MqttSink(options)


def quiet_opencv() -> None:
    """Let OpenCV log errors only: through `cv2.utils.logging` (recent releases) or `cv2.setLogLevel` (4.11
    and older, as pinned with numpy<2 for tflite-runtime, which have no `cv2.utils.logging`)."""
    opencv_logging = getattr(cv2.utils, "logging", None)
    if opencv_logging is not None:
        opencv_logging.setLogLevel(opencv_logging.LOG_LEVEL_ERROR)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)  # LOG_LEVEL_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="fer-edge: %(message)s")
    # OpenCV's own warnings ("[ WARN:0@3.1] global cap.cpp:212 open VIDEOIO...") would precede our one-line
    # errors and say less; OPENCV_LOG_LEVEL=WARNING in the environment brings them back for debugging.
    if "OPENCV_LOG_LEVEL" not in os.environ:
        quiet_opencv()
    command = {"info": cmd_info, "bench": cmd_bench, "report": cmd_report}.get(argv[0] if argv else "", None)
    try:
        return command(argv[1:]) if command else cmd_run(argv)
    except (FerEdgeError, ValueError, OSError) as exc:
        print(f"fer-edge: error: {error_text(exc)}", file=sys.stderr)
        return 2
