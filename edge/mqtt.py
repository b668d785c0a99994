"""Send events to an MQTT broker (`fer-edge --mqtt`): each face's emotion, the face count, the device's
availability with a last will, and optionally Home Assistant discovery (topics: README, "Send to Home
Assistant"). A face or the state goes out when its emotion (or the count) changes, else at most `rate`
times a second; a face unseen for `gone_after` seconds, or still there at the end, is announced gone.

Never holds up a frame: paho-mqtt's network loop runs in its own thread, which also makes the first
connection (a broker down at start only delays the messages) and reconnects 1 s, then 2, 4 ... 30 s
apart; while disconnected, or with `max_queued` messages unacknowledged, messages are dropped and
counted, not queued. Needs the `mqtt` extra (paho-mqtt), imported only when a sink is made.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge import __version__
from edge.results import Face, FrameResult
from edge.sinks import Sink, SinkError

log = logging.getLogger(__name__)

PASSWORD_ENV, USERNAME_ENV = "FER_EDGE_MQTT_PASSWORD", "FER_EDGE_MQTT_USERNAME"
TLS_ENV, CAFILE_ENV = "FER_EDGE_MQTT_TLS", "FER_EDGE_MQTT_CAFILE"
PORT, TLS_PORT = 1883, 8883
RECONNECT_DELAYS = (1, 30)
"""Seconds between reconnection attempts: the first wait, doubling up to the last."""
RESERVED = 4
"""Queue places kept for "online", the discovery configs and "offline", which a backlog must not crowd out."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class MqttError(SinkError):
    """MQTT cannot be used (paho-mqtt is missing); the message says what to install."""


def require_paho() -> Any:
    """paho-mqtt's client module, or a one-line `MqttError` saying to install the extra."""
    try:
        from paho.mqtt import client
    except ImportError as exc:
        raise MqttError('--mqtt needs paho-mqtt: pip install "fer-edge[mqtt]"') from exc
    return client


def default_topic() -> str:
    """fer-edge/ and this machine's short host name, made safe as one topic level."""
    name = re.sub(r"[\s+#/]+", "-", socket.gethostname().split(".")[0]).strip("-")
    return f"fer-edge/{name or 'device'}"


def check_topic(topic: str) -> None:
    """Refuse a base topic with wildcards, empty levels or control characters."""
    if not topic:
        raise ValueError("MQTT topic must not be empty")
    if "+" in topic or "#" in topic or not topic.isprintable():
        raise ValueError(f"MQTT topic must have no wildcards (+, #) or control characters, got {topic!r}")
    if "" in topic.split("/"):
        raise ValueError(f"MQTT topic must have no empty level (a leading, trailing or double '/'), got {topic!r}")


def parse_target(text: str) -> tuple[str | None, str, int | None, str | None]:
    """`[USER@]HOST[:PORT][/TOPIC]` as (user, host, port, topic), None where not given; IPv6 in brackets."""
    address, slash, topic = text.strip().partition("/")
    user, at, host_port = address.rpartition("@")
    if at and not user:
        raise ValueError(f"--mqtt {text!r}: empty user name before '@'")
    if ":" in user:
        raise ValueError(f"--mqtt {text!r}: put the password in ${PASSWORD_ENV}, not on the command line")
    if host_port.startswith("["):
        host, bracket, rest = host_port[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"--mqtt {text!r}: an IPv6 address goes in brackets, as [::1]:1883")
        port_text = rest[1:] if rest else None
    elif host_port.count(":") > 1:
        raise ValueError(f"--mqtt {text!r}: an IPv6 address goes in brackets, as [::1]:1883")
    else:
        host, colon, port_text = host_port.partition(":")
        port_text = port_text if colon else None
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"--mqtt {text!r}: no host (expected [USER@]HOST[:PORT][/TOPIC])")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"--mqtt {text!r}: port must be a number in 1-65535, got {port_text!r}")
        port = int(port_text)
    if slash:
        check_topic(topic)
    return user or None, host, port, topic if slash else None


@dataclass(frozen=True)
class MqttOptions:
    """Where events go, as whom, and how often."""

    host: str
    port: int = PORT
    topic: str = field(default_factory=default_topic)
    """Base topic; every topic of the run is under it."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    """TLS with the system's CAs (or `cafile`)."""
    cafile: str | None = None
    rate: float = 2.0
    """Most messages a second per face (and for the state) while nothing changes; a change goes out at once."""
    discovery: bool = False
    """Announce the device to Home Assistant (retained config messages under `discovery_prefix`)."""
    discovery_prefix: str = "homeassistant"
    keepalive: int = 30
    """Seconds between pings; the broker sends the last will after 1.5 times this of silence."""
    max_queued: int = 100
    """Messages waiting for the broker's acknowledgement; more are dropped and counted."""
    gone_after: float = 1.0
    """Seconds a face may go unseen before it is announced gone."""

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"MQTT host must be a non-empty name or address, got {self.host!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"MQTT port must be in 1-65535, got {self.port}")
        check_topic(self.topic)
        check_topic(self.discovery_prefix)
        if self.password is not None and not self.username:
            raise ValueError(f"${PASSWORD_ENV} needs a user name: --mqtt USER@HOST or ${USERNAME_ENV}")
        if self.cafile is not None and not Path(self.cafile).is_file():
            raise ValueError(f"${CAFILE_ENV}: {self.cafile}: no such file")
        if not self.rate > 0:
            raise ValueError(f"--mqtt-rate must be above 0 messages a second, got {self.rate}")
        if self.keepalive < 5 or self.max_queued < 1 or not self.gone_after > 0:
            raise ValueError(f"MQTT keepalive must be at least 5 s, max_queued at least 1 and gone_after above 0 "
                             f"(got {self.keepalive}, {self.max_queued}, {self.gone_after})")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}/{self.topic}"

    @property
    def availability_topic(self) -> str:
        return f"{self.topic}/availability"

    @property
    def state_topic(self) -> str:
        return f"{self.topic}/state"


def mqtt_options(target: str, environ: Mapping[str, str], **settings: Any) -> MqttOptions:
    """The options of `--mqtt TARGET`, the user, password and TLS taken from the environment."""
    user, host, port, topic = parse_target(target)
    tls_text = environ.get(TLS_ENV, "").strip().lower()
    if tls_text not in _TRUE + _FALSE:
        raise ValueError(f"${TLS_ENV} must be 1 or 0, got {environ[TLS_ENV]!r}")
    cafile = environ.get(CAFILE_ENV) or None
    tls = tls_text in _TRUE or cafile is not None
    return MqttOptions(host=host, port=port or (TLS_PORT if tls else PORT), topic=topic or default_topic(),
                       username=user or environ.get(USERNAME_ENV) or None,
                       password=environ.get(PASSWORD_ENV) or None, tls=tls, cafile=cafile, **settings)


def discovery_configs(options: MqttOptions) -> dict[str, dict[str, Any]]:
    """Home Assistant's discovery messages (topic -> config): a dominant-emotion sensor and a face-count sensor."""
    node = re.sub(r"[^A-Za-z0-9_-]", "_", options.topic)
    device = {"identifiers": [node], "name": options.topic.replace("/", " "), "model": "fer-edge",
              "manufacturer": "fer-edge", "sw_version": __version__}
    common = {"state_topic": options.state_topic, "availability_topic": options.availability_topic,
              "payload_available": "online", "payload_not_available": "offline", "device": device}
    sensors = {"emotion": {"name": "Dominant emotion", "value_template": "{{ value_json.emotion }}",
                           "json_attributes_topic": options.state_topic, "icon": "mdi:emoticon-outline"},
               "faces": {"name": "Faces", "value_template": "{{ value_json.faces }}", "state_class": "measurement",
                         "icon": "mdi:account-multiple"}}
    return {f"{options.discovery_prefix}/sensor/{node}/{key}/config":
            {**sensor, "unique_id": f"{node}_{key}", "object_id": f"{node}_{key}", **common}
            for key, sensor in sensors.items()}


def face_payload(key: str, face: Face, result: FrameResult) -> dict[str, Any]:
    return {"id": face.id or int(key), "emotion": face.label, "score": round(face.score, 4),
            "probabilities": {k: round(v, 4) for k, v in face.probabilities.items()}, "box": face.box.as_list(),
            "frame": result.index, "time": round(result.time, 3)}


@dataclass
class _Sent:
    """What was last published for one face (or the state), when, and when the face was last seen."""

    value: object
    sent: float
    seen: float


class MqttSink(Sink):
    """Publishes the run's events to an MQTT broker from paho's own thread; `figures()` counts sent and dropped."""

    def __init__(self, options: MqttOptions) -> None:
        paho = require_paho()
        self.options, self.sent, self.dropped = options, 0, 0
        self._success = (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN)  # NO_CONN: kept for resending
        self._interval = 1.0 / options.rate
        self._counts = threading.Lock()
        self._accepted = 0
        self._connected = self._was_connected = self._closed = self._resend = False
        self._warned: str | None = None
        self._faces: dict[str, _Sent] = {}
        self._state: _Sent | None = None
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"fer-edge-{time.time_ns() % 10**12}")
        client.on_connect, client.on_connect_fail = self._on_connect, self._on_connect_fail
        client.on_disconnect, client.on_publish = self._on_disconnect, self._on_publish
        client.will_set(options.availability_topic, "offline", qos=1, retain=True)
        if options.username:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set(ca_certs=options.cafile)
        client.reconnect_delay_set(*RECONNECT_DELAYS)
        client.max_queued_messages_set(options.max_queued + RESERVED)
        self._client = client  # before the loop starts: on a slow machine it connects before loop_start returns
        client.connect_async(options.host, options.port, keepalive=options.keepalive)
        client.loop_start()

    def write(self, frame: np.ndarray | None, result: FrameResult) -> None:
        now, base = time.monotonic(), self.options.topic
        resend, self._resend = self._resend, False
        for position, face in enumerate(result.faces, start=1):
            key = str(face.id or position)  # untracked faces (--no-smooth) are numbered by size, 1 = largest
            last = self._faces.get(key)
            if resend or last is None or last.value != face.label or now - last.sent >= self._interval:
                self._publish(f"{base}/face/{key}", face_payload(key, face, result))
                self._faces[key] = _Sent(face.label, now, now)
            else:
                last.seen = now
        if len(self._faces) > len(result.faces):
            for key in [k for k, last in self._faces.items() if now - last.seen >= self.options.gone_after]:
                self._gone(key, result.time)
        state = (len(result.faces), result.faces[0].label if result.faces else "none")
        last = self._state
        if resend or last is None or last.value != state or now - last.sent >= self._interval:
            top = result.faces[0].score if result.faces else None
            self._publish(self.options.state_topic, {"faces": state[0], "emotion": state[1],
                                                     "score": None if top is None else round(top, 4),
                                                     "frame": result.index, "time": round(result.time, 3)},
                          retain=True)
            self._state = _Sent(state, now, now)

    def close(self) -> None:
        """Announce the faces still seen as gone and the device offline, then disconnect (at most ~2 s)."""
        if self._closed:
            return
        self._closed = True
        for key in list(self._faces):
            self._gone(key, time.time())
        offline = self._publish(self.options.availability_topic, "offline", retain=True, reserved=True)
        if offline is not None and self._connected:
            try:
                offline.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        with self._counts:
            self.dropped += max(0, self._accepted - self.sent)  # never acknowledged by the broker
            self._accepted = self.sent

    def figures(self) -> dict[str, dict[str, int]]:
        """For the run's summary: messages the broker acknowledged, and messages dropped."""
        return {"mqtt": {"sent": self.sent, "dropped": self.dropped}}

    def _gone(self, key: str, when: float) -> None:
        del self._faces[key]
        self._publish(f"{self.options.topic}/face/{key}", {"id": int(key), "gone": True, "time": round(when, 3)})

    def _publish(self, topic: str, payload: dict[str, Any] | str, retain: bool = False, reserved: bool = False) -> Any:
        """Hand a message to paho's queue, or drop and count it while disconnected or when the queue is full
        (`reserved`: may use the places kept for availability and discovery)."""
        with self._counts:
            if not self._connected or (not reserved and self._accepted - self.sent >= self.options.max_queued):
                self.dropped += 1
                return None
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        info = self._client.publish(topic, text, qos=1, retain=retain)
        with self._counts:
            if info.rc in self._success:
                self._accepted += 1
            else:
                self.dropped += 1
        return info

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._warn(f"MQTT: {self.options.address} refused the connection: {reason}; retrying")
            return
        self._connected, self._warned = True, None
        log.info("MQTT: %s %s", "reconnected to" if self._was_connected else "connected to", self.options.address)
        self._was_connected = self._resend = True  # the next frame sends every face and the state at once
        self._publish(self.options.availability_topic, "online", retain=True, reserved=True)
        if self.options.discovery:
            for topic, config in discovery_configs(self.options).items():
                self._publish(topic, config, retain=True, reserved=True)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._warn(f"MQTT: cannot reach {self.options.address}; retrying every {RECONNECT_DELAYS[0]}-"
                   f"{RECONNECT_DELAYS[1]} s, dropping messages meanwhile")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was, self._connected = self._connected, False
        if was and not self._closed:
            log.warning("MQTT: lost the connection to %s (%s); reconnecting, dropping messages meanwhile",
                        self.options.address, reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._counts:
            self.sent += 1

    def _warn(self, message: str) -> None:
        """Log a connection problem once, until it changes or a connection succeeds."""
        if message != self._warned:
            log.warning("%s", message)
            self._warned = message
