"""`fer-edge --mqtt` against a real Mosquitto broker on a loopback port: per-face events and the face count,
the rate limit, availability and the last will, a broker restart and a broker down at start, Home
Assistant discovery, and bad targets. The broker is Debian's `mosquitto` (the tests skip without it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import __version__
from edge.cli import main as edge_main
from edge.contract import FER2013_LABELS
from edge.mqtt import MqttOptions, MqttSink, parse_target
from edge.results import Box, Face, FrameResult, Prediction
from tests.conftest import ROOT, SAMPLES

DEMO = SAMPLES / "demo.mp4"
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None)


def wait_until(condition: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds have passed; whether it became true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Broker:
    """A mosquitto process of its own: loopback only, anonymous, nothing persisted; stop and start keep the port."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.config, self.log = folder / "mosquitto.conf", folder / "mosquitto.log"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        up = wait_until(lambda: self.process.poll() is not None or port_open(self.port), 10)
        assert up and self.process.poll() is None, f"mosquitto did not start: {self.log.read_text()}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed: apt-get install mosquitto (.ci/run does)")
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


class Subscriber:
    """A paho client that records every message under `topics` as (topic, payload text, retained flag)."""

    def __init__(self, port: int, *topics: str) -> None:
        from paho.mqtt import client as paho

        self.messages: list[tuple[str, str, bool]] = []
        self._lock, self._subscribed = threading.Lock(), threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(topic, 0) for topic in topics])
        self.client.loop_start()
        assert self._subscribed.wait(5), "the test's subscriber could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))

    def on(self, topic: str) -> list[tuple[str, bool]]:
        """Payloads and retained flags received on one topic, in order."""
        with self._lock:
            return [(payload, retained) for t, payload, retained in self.messages if t == topic]

    def payloads(self, topic: str) -> list[str]:
        return [payload for payload, _ in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def late_payloads(port: int, topic: str, timeout: float = 5.0) -> list[tuple[str, bool]]:
    """What a subscriber that connects now receives on `topic` (the retained message, if any)."""
    late = Subscriber(port, topic)
    try:
        wait_until(lambda: late.on(topic), timeout)
        return late.on(topic)
    finally:
        late.close()


def start_device(port: int, topic: str, *extra: str) -> subprocess.Popen:
    """`python -m edge` replaying the demo clip until stopped, publishing to the broker."""
    return subprocess.Popen([sys.executable, "-m", "edge", "--source", str(DEMO), "--headless", "--loop",
                             "--report-every", "0", "--mqtt", f"127.0.0.1:{port}/{topic}", *extra],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_device(device: subprocess.Popen, how: signal.Signals = signal.SIGTERM) -> str:
    """Signal the device and return its stderr (its summary, after SIGTERM)."""
    if device.poll() is None:
        device.send_signal(how)
    try:
        return device.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        device.kill()
        raise


def test_the_connection_may_come_up_before_the_sink_is_built(broker, monkeypatch):
    """On a slow machine paho's thread connects, and calls back, before MqttSink's constructor returns."""
    from paho.mqtt import client as paho

    start = paho.Client.loop_start

    def start_and_let_it_connect(client):
        started = start(client)
        assert wait_until(client.is_connected, 5)
        time.sleep(0.5)  # the connection callback runs right after the state changes
        return started

    everything = Subscriber(broker.port, "#")
    monkeypatch.setattr(paho.Client, "loop_start", start_and_let_it_connect)
    sink = MqttSink(MqttOptions(host="127.0.0.1", port=broker.port, topic="fertest/early"))
    try:
        assert wait_until(lambda: everything.payloads("fertest/early/availability") == ["online"], 5)
    finally:
        sink.close()
        everything.close()


def test_a_run_publishes_each_face_and_the_count_at_the_rate_limit(broker):
    from edge.pipeline import Recognizer
    from edge.runner import RunOptions, run
    from edge.sources import SourceOptions, open_source

    rate, base = 4.0, "fertest/run"
    everything = Subscriber(broker.port, "#")
    recognizer = Recognizer()
    sink = MqttSink(MqttOptions(host="127.0.0.1", port=broker.port, topic=base, rate=rate))
    assert wait_until(lambda: everything.payloads(f"{base}/availability") == ["online"], 5)
    started = time.monotonic()
    summary = run(recognizer, open_source(SourceOptions(source=str(DEMO))), [sink], RunOptions(report_every=0))
    seconds = time.monotonic() - started
    assert wait_until(lambda: everything.payloads(f"{base}/availability") == ["online", "offline"], 5)
    time.sleep(0.1)  # anything published after "offline" would arrive by now
    everything.close()
    topics = {topic for topic, _, _ in everything.messages}
    assert summary.frames == 240 and not any(t.startswith("homeassistant/") for t in topics)
    assert summary.to_dict()["mqtt"] == {"sent": len(everything.messages), "dropped": 0}

    face_topics = sorted(t for t in topics if t.startswith(f"{base}/face/"))
    assert face_topics, topics
    for topic in face_topics:
        events = [json.loads(p) for p in everything.payloads(topic)]
        assert events[-1] == {"id": int(topic.rsplit("/", 1)[1]), "gone": True, "time": events[-1]["time"]}
        faces = events[:-1]
        assert faces and all("gone" not in e for e in faces)
        for event in faces:
            assert event["emotion"] in FER2013_LABELS and set(event["probabilities"]) == set(FER2013_LABELS)
            assert sum(event["probabilities"].values()) == pytest.approx(1.0, abs=0.002)
            assert event["emotion"] == max(event["probabilities"], key=event["probabilities"].get)
            assert len(event["box"]) == 4 and 0 <= event["frame"] < 240
        for before, after in zip(faces, faces[1:]):  # same emotion: at most `rate` a second
            if before["emotion"] == after["emotion"]:
                assert after["time"] - before["time"] >= 0.8 / rate, (before, after)
        changes = sum(a["emotion"] != b["emotion"] for a, b in zip(faces, faces[1:]))
        assert len(faces) <= seconds * rate + changes + 2

    states = [json.loads(p) for p in everything.payloads(f"{base}/state")]
    assert states and all(s["faces"] == 1 and s["emotion"] in FER2013_LABELS for s in states)
    assert len(states) <= seconds * rate + sum(a != b for a, b in zip(states, states[1:])) + 2
    retained = late_payloads(broker.port, f"{base}/state")
    assert len(retained) == 1 and retained[0][1] and json.loads(retained[0][0]) == states[-1]
    assert late_payloads(broker.port, f"{base}/availability") == [("offline", True)]


def frame(index: int, *faces: tuple[int, str]) -> FrameResult:
    """A frame record with faces of given track ids and emotions (the emotion at 0.7, the rest shared)."""
    def face(track: int, emotion: str) -> Face:
        rest = 0.3 / (len(FER2013_LABELS) - 1)
        probabilities = [0.7 if label == emotion else rest for label in FER2013_LABELS]
        return Face(Box(10 * track, 10, 50, 50), Prediction.of(FER2013_LABELS, probabilities), track)

    return FrameResult(index, time.time(), "test", tuple(face(*f) for f in faces))


def test_a_change_goes_out_at_once_and_an_unseen_face_is_announced_gone(broker):
    base = "fertest/events"
    subscriber = Subscriber(broker.port, f"{base}/#")
    sink = MqttSink(MqttOptions(host="127.0.0.1", port=broker.port, topic=base, rate=0.5, gone_after=0.3))
    assert wait_until(lambda: subscriber.payloads(f"{base}/availability") == ["online"], 5)
    sink.write(None, frame(0, (7, "happy")))
    sink.write(None, frame(1, (7, "happy")))  # unchanged, within 2 s: nothing
    sink.write(None, frame(2, (7, "sad")))  # changed: at once
    sink.write(None, frame(3, (0, "fear"), (0, "angry")))  # untracked faces (--no-smooth): numbered 1, 2
    time.sleep(0.35)
    sink.write(None, frame(4))  # face 7 unseen for more than gone_after
    sink.close()
    assert wait_until(lambda: subscriber.payloads(f"{base}/availability")[-1:] == ["offline"], 5)
    subscriber.close()
    events = {key: [json.loads(p) for p in subscriber.payloads(f"{base}/face/{key}")] for key in (7, 1, 2)}
    assert [e.get("emotion", "gone") for e in events[7]] == ["happy", "sad", "gone"]
    assert [(e["id"], e.get("emotion", "gone")) for e in events[1]] == [(1, "fear"), (1, "gone")]
    assert [(e["id"], e.get("emotion", "gone")) for e in events[2]] == [(2, "angry"), (2, "gone")]
    states = [json.loads(p) for p in subscriber.payloads(f"{base}/state")]
    assert [(s["faces"], s["emotion"]) for s in states] == [(1, "happy"), (1, "sad"), (2, "fear"), (0, "none")]
    assert sink.figures() == {"mqtt": {"sent": len(subscriber.messages), "dropped": 0}}
    documented = readme_payload_keys()  # the README's topic table shows these payloads' fields
    assert documented["B/state"] == [set(states[0])] and documented["B/face/ID"] == [set(events[7][0]),
                                                                                    set(events[7][-1])]


def readme_payload_keys() -> dict[str, list[set[str]]]:
    """The fields of each payload example in the README's topic table, by topic (emotion names left out)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Send to Home Assistant"):]
    section = section[:section.index("\n## ", 4)]
    examples: dict[str, list[set[str]]] = {}
    for topic, payload in re.findall(r"^\| `(B/[^`]+)` \| ([^|]+) \|", section, flags=re.M):
        if "{" in payload:
            examples.setdefault(topic, []).append(set(re.findall(r'"(\w+)":', payload)) - set(FER2013_LABELS))
    return examples


def test_the_readme_names_every_environment_variable():
    from edge import mqtt

    readme = (ROOT / "README.md").read_text()
    for name in (mqtt.PASSWORD_ENV, mqtt.USERNAME_ENV, mqtt.TLS_ENV, mqtt.CAFILE_ENV):
        assert f"| `{name}` |" in readme


def test_a_full_queue_drops_and_counts_instead_of_blocking(broker):
    base = "fertest/queue"
    subscriber = Subscriber(broker.port, f"{base}/#")
    sink = MqttSink(MqttOptions(host="127.0.0.1", port=broker.port, topic=base, max_queued=5))
    assert wait_until(lambda: subscriber.payloads(f"{base}/availability") == ["online"], 5)
    broker.process.send_signal(signal.SIGSTOP)  # connected, but nothing is acknowledged any more
    try:
        started = time.monotonic()
        for index in range(100):
            sink.write(None, frame(index, (1, FER2013_LABELS[index % 7])))  # a change every frame
        assert time.monotonic() - started < 1.0
    finally:
        broker.process.send_signal(signal.SIGCONT)
    sink.close()
    assert wait_until(lambda: subscriber.payloads(f"{base}/availability")[-1:] == ["offline"], 5)
    subscriber.close()
    figures = sink.figures()["mqtt"]  # "online", a face and the state per frame, "gone", "offline"
    assert figures["dropped"] >= 190 and figures["sent"] + figures["dropped"] == 1 + 2 * 100 + 1 + 1


def test_a_late_subscriber_sees_online_and_a_killed_device_goes_offline(broker):
    base = "fertest/kill"
    subscriber = Subscriber(broker.port, f"{base}/availability")
    device = start_device(broker.port, base)
    try:
        assert wait_until(lambda: subscriber.payloads(f"{base}/availability") == ["online"], 30)
        assert late_payloads(broker.port, f"{base}/availability") == [("online", True)]
        stop_device(device, signal.SIGKILL)
        assert wait_until(lambda: subscriber.payloads(f"{base}/availability") == ["online", "offline"], 10)
        assert late_payloads(broker.port, f"{base}/availability") == [("offline", True)]
    finally:
        device.kill()
        device.wait()
        subscriber.close()


def test_the_run_goes_on_through_a_broker_restart_and_counts_what_it_dropped(broker, tmp_path):
    base, events = "fertest/restart", tmp_path / "events.jsonl"
    first = Subscriber(broker.port, f"{base}/#")
    device = start_device(broker.port, base, "--jsonl", str(events))
    try:
        assert wait_until(lambda: first.payloads(f"{base}/state"), 30)
        first.close()
        broker.stop()
        frames_then = len(events.read_text().splitlines())
        assert wait_until(lambda: len(events.read_text().splitlines()) >= frames_then + 100, 20), "the run stalled"
        broker.start()
        again = Subscriber(broker.port, f"{base}/#")
        assert wait_until(lambda: again.payloads(f"{base}/state") and again.payloads(f"{base}/availability"), 20)
        assert again.payloads(f"{base}/availability") == ["online"]
        again.close()
        err = stop_device(device)
    finally:
        device.kill()
        device.wait()
    assert "MQTT: lost the connection to mqtt://127.0.0.1" in err and "MQTT: reconnected to" in err, err
    sent, dropped = map(int, re.search(r"^mqtt: (\d+) sent, (\d+) dropped$", err, re.MULTILINE).groups())
    assert sent > 0 and dropped > 0 and "Traceback" not in err


def test_a_broker_down_at_start_does_not_stop_the_run(tmp_path, capsys, caplog):
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed: apt-get install mosquitto (.ci/run does)")
    events = tmp_path / "events.jsonl"
    assert edge_main(["--source", str(DEMO), "--headless", "--report-every", "0", "--max-frames", "60",
                      "--jsonl", str(events), "--mqtt", f"127.0.0.1:{free_port()}/fertest/down"]) == 0
    err = capsys.readouterr().err
    assert len(events.read_text().splitlines()) == 60
    assert "MQTT: cannot reach mqtt://127.0.0.1" in caplog.text and "Traceback" not in err, caplog.text
    sent, dropped = map(int, re.search(r"^mqtt: (\d+) sent, (\d+) dropped$", err, re.MULTILINE).groups())
    assert sent == 0 and dropped > 0
    assert float(re.search(r"FPS mean over ([\d.]+) s", err).group(1)) < 5.0


def test_discovery_announces_the_device_to_home_assistant(broker, capsys):
    base = "fertest/ha"
    assert edge_main(["--source", str(DEMO), "--headless", "--quiet", "--max-frames", "30", "--mqtt-discovery",
                      "--mqtt", f"127.0.0.1:{broker.port}/{base}"]) == 0
    collector = Subscriber(broker.port, "homeassistant/#", f"{base}/state")
    try:
        assert wait_until(lambda: len(collector.messages) == 3, 5), collector.messages
        time.sleep(0.1)
        configs = {topic: (json.loads(payload), retained) for topic, payload, retained in collector.messages
                   if topic.startswith("homeassistant/")}
        state = json.loads(collector.payloads(f"{base}/state")[0])
    finally:
        collector.close()
    assert sorted(configs) == ["homeassistant/sensor/fertest_ha/emotion/config",
                               "homeassistant/sensor/fertest_ha/faces/config"]
    for config, retained in configs.values():
        assert retained and config["state_topic"] == f"{base}/state"
        assert config["availability_topic"] == f"{base}/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config["device"]["model"] == "fer-edge" and config["device"]["sw_version"] == __version__
        assert config["device"]["identifiers"] and config["unique_id"]
        field = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", config["value_template"]).group(1)
        assert field in state
    assert len({config["unique_id"] for config, _ in configs.values()}) == 2
    assert state["emotion"] in FER2013_LABELS and state["faces"] == 1


@pytest.mark.parametrize("target, expected", [
    ("pi@homeassistant.local", ("pi", "homeassistant.local", None, None)),
    ("broker:1884/home/cam", (None, "broker", 1884, "home/cam")),
    ("[::1]:8883", (None, "::1", 8883, None)),
    ("10.0.0.2/x", (None, "10.0.0.2", None, "x")),
])
def test_targets_are_parsed(target, expected):
    assert parse_target(target) == expected


@pytest.mark.parametrize("argv, env, message", [
    (["--mqtt", ""], {}, "no host"),
    (["--mqtt", "pi@"], {}, "no host"),
    (["--mqtt", "@broker"], {}, "empty user name"),
    (["--mqtt", "broker:0"], {}, "port must be a number in 1-65535, got '0'"),
    (["--mqtt", "broker:99999"], {}, "port must be a number in 1-65535"),
    (["--mqtt", "broker:abc"], {}, "port must be a number in 1-65535, got 'abc'"),
    (["--mqtt", "broker/"], {}, "MQTT topic must not be empty"),
    (["--mqtt", "broker/a//b"], {}, "no empty level"),
    (["--mqtt", "broker/a/#"], {}, "no wildcards"),
    (["--mqtt", "pi:s3cret@broker"], {}, "put the password in $FER_EDGE_MQTT_PASSWORD"),
    (["--mqtt", "::1"], {}, "an IPv6 address goes in brackets"),
    (["--mqtt", "broker", "--mqtt-rate", "0"], {}, "--mqtt-rate must be above 0"),
    (["--mqtt-rate", "5"], {}, "--mqtt-rate and --mqtt-discovery only apply to --mqtt"),
    (["--mqtt-discovery"], {}, "--mqtt-rate and --mqtt-discovery only apply to --mqtt"),
    (["--mqtt", "broker"], {"FER_EDGE_MQTT_TLS": "maybe"}, "$FER_EDGE_MQTT_TLS must be 1 or 0, got 'maybe'"),
    (["--mqtt", "broker"], {"FER_EDGE_MQTT_CAFILE": "/no/ca.pem"}, "/no/ca.pem: no such file"),
    (["--mqtt", "broker"], {"FER_EDGE_MQTT_PASSWORD": "x"}, "$FER_EDGE_MQTT_PASSWORD needs a user name"),
])
def test_bad_mqtt_input_is_one_line_and_exit_2(argv, env, message, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert edge_main(["--source", str(DEMO), "--headless", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fer-edge: error: ") and message in err, err


def test_the_environment_gives_the_user_and_tls():
    from edge.mqtt import mqtt_options

    ca = str(ROOT / "README.md")  # any file: only its existence is checked before connecting
    options = mqtt_options("broker", {"FER_EDGE_MQTT_USERNAME": "pi", "FER_EDGE_MQTT_PASSWORD": "pw",
                                      "FER_EDGE_MQTT_CAFILE": ca})
    assert (options.username, options.password, options.tls, options.port) == ("pi", "pw", True, 8883)
    assert "pw" not in repr(options)
    assert mqtt_options("me@broker/t", {"FER_EDGE_MQTT_USERNAME": "pi", "FER_EDGE_MQTT_TLS": "1"}).username == "me"
    assert mqtt_options("broker", {}).port == 1883 and mqtt_options("broker", {}).topic.startswith("fer-edge/")


def test_without_paho_mqtt_says_what_to_install(monkeypatch, capsys):
    for name in ("paho", "paho.mqtt", "paho.mqtt.client"):
        monkeypatch.setitem(sys.modules, name, None)
    assert edge_main(["--source", str(DEMO), "--headless", "--mqtt", "127.0.0.1"]) == 2
    assert capsys.readouterr().err == 'fer-edge: error: --mqtt needs paho-mqtt: pip install "fer-edge[mqtt]"\n'
