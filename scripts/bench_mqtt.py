"""What --mqtt costs: pipeline FPS on a video with and without the MQTT sink, publishing to a local mosquitto.

    python scripts/bench_mqtt.py [--video samples/demo.mp4] [--passes 5] [--mqtt-rate 2.0] [--json figures.json]

Starts its own mosquitto (Debian's package) on a free loopback port, with a config of its own and nothing
persisted, and stops it at the end. The default pipeline runs over the whole video in this one process,
the two modes alternating pass by pass (ABBA order, so a drift in the machine's speed falls on both); it
prints the median FPS of each mode and their ratio. Run it on a quiet machine: other load moves the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.mqtt import MqttOptions, MqttSink  # noqa: E402
from edge.pipeline import Recognizer  # noqa: E402
from edge.runner import RunOptions, run  # noqa: E402
from edge.sources import SourceOptions, open_source  # noqa: E402


def start_broker(folder: Path) -> tuple[subprocess.Popen, int]:
    """mosquitto on a free loopback port; the process and the port."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if binary is None:
        raise SystemExit("bench_mqtt: mosquitto not installed (apt-get install mosquitto)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise SystemExit(f"bench_mqtt: mosquitto did not start on port {port}")


def one_pass(video: Path, mqtt: MqttOptions | None) -> dict:
    """One pass over the video, with the MQTT sink (connected before the first frame) or without."""
    recognizer = Recognizer()
    sinks = []
    if mqtt is not None:
        sink = MqttSink(mqtt)
        deadline = time.monotonic() + 10
        while not sink.sent and time.monotonic() < deadline:  # "online" acknowledged: connected
            time.sleep(0.01)
        sinks.append(sink)
    try:
        summary = run(recognizer, open_source(SourceOptions(source=str(video))), sinks, RunOptions(report_every=0))
    finally:
        recognizer.close()
    return {"with_mqtt": mqtt is not None, "fps": summary.fps, "frames": summary.frames,
            "messages": summary.outputs.get("mqtt", {})}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=ROOT / "samples" / "demo.mp4", help="video to run over")
    p.add_argument("--passes", type=int, default=5, help="passes per mode (alternating; the median is reported)")
    p.add_argument("--mqtt-rate", type=float, default=MqttOptions(host="x", topic="x").rate,
                   help="--mqtt-rate of the MQTT passes")
    p.add_argument("--json", type=Path, default=None, help="also write every pass's figures here")
    args = p.parse_args(argv)
    if args.passes < 1 or not args.video.is_file():
        p.error("--passes must be at least 1 and --video an existing file")
    with tempfile.TemporaryDirectory() as folder:
        broker, port = start_broker(Path(folder))
        try:
            options = MqttOptions(host="127.0.0.1", port=port, topic="fer-edge/bench", rate=args.mqtt_rate)
            one_pass(args.video, None)  # warm-up: caches, lazy imports
            passes: list[dict] = []
            for index in range(args.passes):
                order = (None, options) if index % 2 == 0 else (options, None)
                passes += [one_pass(args.video, mqtt) for mqtt in order]
        finally:
            broker.terminate()
            broker.wait(10)
    without = statistics.median(r["fps"] for r in passes if not r["with_mqtt"])
    with_mqtt = statistics.median(r["fps"] for r in passes if r["with_mqtt"])
    sent = [r["messages"].get("sent", 0) for r in passes]
    print(f"{args.video.name}, {passes[0]['frames']} frames a pass, median of {args.passes} passes per mode")
    print(f"  without --mqtt  {without:6.1f} FPS")
    print(f"  with --mqtt     {with_mqtt:6.1f} FPS  (--mqtt-rate {args.mqtt_rate}, {max(sent)} messages a pass)")
    print(f"ratio with / without: {with_mqtt / without:.3f}")
    if args.json:
        args.json.write_text(json.dumps(passes, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
