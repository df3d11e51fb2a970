"""Shared helpers for the MQTT tests: a real Mosquitto of their own, a subscriber, the bridge.

``Mosquitto`` runs /usr/sbin/mosquitto on a free 127.0.0.1 port with a config file written
into the test's tmp_path (persistence off); tests restart and kill it by PID. ``Subscriber``
is a paho client that records every message and waits on conditions with a bound.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, NoReturn, Optional, Sequence

import pytest

WAIT_S = 10.0
INSTALL_HINT = "mosquitto is not installed: apt-get install -y mosquitto"


def mosquitto_binary() -> Optional[str]:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail where PYHIK_REQUIRE_MOSQUITTO is set (CI: a real broker is required)."""
    if os.environ.get("PYHIK_REQUIRE_MOSQUITTO"):
        pytest.fail(f"PYHIK_REQUIRE_MOSQUITTO is set, but: {reason}")
    pytest.skip(reason)


def require_mosquitto() -> str:
    """The mosquitto binary, or skip (a failure under PYHIK_REQUIRE_MOSQUITTO, as in CI)."""
    binary = mosquitto_binary()
    if binary is None:
        skip_or_fail(INSTALL_HINT)
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        skip_or_fail("paho-mqtt is not installed (needed with mosquitto): pip install -e '.[test]'")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_S, step: float = 0.01) -> Any:
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class Mosquitto:
    """One Mosquitto broker of the test's own: start, stop, kill and restart by PID."""

    def __init__(self, folder: Path, *, extra: Sequence[str] = (), port: Optional[int] = None,
                 tls_port: Optional[int] = None, anonymous: bool = True,
                 persistence: bool = False) -> None:
        self.binary = require_mosquitto()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls_port = tls_port
        self.extra = list(extra)
        self.anonymous = anonymous
        self.persistence = persistence
        self.conf = self.folder / "mosquitto.conf"
        self.log = self.folder / "mosquitto.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_conf(self) -> None:
        lines = ([f"persistence true\npersistence_location {self.folder}/"] if self.persistence
                 else ["persistence false"])
        lines += [f"log_dest file {self.log}", "log_type all",
                 "per_listener_settings false", f"listener {self.port} 127.0.0.1",
                 f"allow_anonymous {'true' if self.anonymous else 'false'}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot read tmp_path
        lines += self.extra
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> "Mosquitto":
        self.write_conf()
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        if not wait_for(lambda: all(_accepts(p) for p in ports) or self.proc.poll() is not None):
            raise RuntimeError("mosquitto did not start listening")
        if self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-500:]} "
                               f"{self.log.read_text()[-500:] if self.log.exists() else ''}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._close_pipes()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._close_pipes()

    def restart(self) -> None:
        """Kill -9 (nothing retained survives: persistence is off) and start again."""
        self.kill()
        self.start()

    def _close_pipes(self) -> None:
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Msg(NamedTuple):
    topic: str
    payload: bytes
    retain: bool
    at: float
    qos: int = 1

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """Records every message on ``filters``; reconnects by itself after a broker restart."""

    def __init__(self, port: int, filters: Sequence[str] = ("#",), *, name: str = "test-sub",
                 clean_session: bool = True, username: Optional[str] = None,
                 password: Optional[str] = None, **tls: Any) -> None:
        import paho.mqtt.client as mqtt

        self.filters = list(filters)
        self.messages: List[Msg] = []
        self.connects = 0
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{port}",
                                  clean_session=clean_session)
        self.client.reconnect_delay_set(0.05, 0.2)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(**tls)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        if not self.wait(lambda: self.connects > 0):
            raise RuntimeError("test subscriber could not connect")

    def _on_connect(self, client: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        client.subscribe([(f, 1) for f in self.filters])
        with self._cond:
            self.connects += 1
            self._cond.notify_all()

    def _on_message(self, _client: Any, _u: Any, msg: Any) -> None:
        with self._cond:
            self.messages.append(Msg(msg.topic, bytes(msg.payload), bool(msg.retain),
                                     time.monotonic(), int(msg.qos)))
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Wait until ``predicate()`` is truthy; returns its last value."""
        with self._cond:
            result = None

            def check() -> Any:
                nonlocal result
                result = predicate()
                return result
            self._cond.wait_for(check, timeout)
            return result

    def on(self, topic: str) -> List[Msg]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Optional[Msg]:
        found = self.on(topic)
        return found[-1] if found else None

    def last_text(self, topic: str) -> Optional[str]:
        msg = self.last(topic)
        return msg.text if msg is not None else None

    def wait_last(self, topic: str, text: str, timeout: float = WAIT_S) -> bool:
        return bool(self.wait(lambda: self.last_text(topic) == text, timeout))

    def latest(self) -> Dict[str, bytes]:
        """topic -> last payload seen (what the broker retains, for retained topics)."""
        with self._cond:
            out: Dict[str, bytes] = {}
            for m in self.messages:
                out[m.topic] = m.payload
            return out

    def clear(self) -> None:
        with self._cond:
            self.messages = []

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_messages(port: int, filters: Sequence[str] = ("#",), marker: str = "test/marker",
                      timeout: float = WAIT_S) -> List[Any]:
    """Every message the broker retains under ``filters`` now, as a fresh subscriber at
    QoS 1 gets them (a marker message tells that every retained message has arrived)."""
    sub = Subscriber(port, list(filters) + [marker], name=f"snap-{time.monotonic_ns()}")
    try:
        sub.publish(marker, "end")
        if not sub.wait(lambda: sub.last(marker) is not None, timeout):
            raise AssertionError("the snapshot marker never came back")
        with sub._cond:
            return [m for m in sub.messages if m.retain]
    finally:
        sub.close()


def retained_snapshot(port: int, filters: Sequence[str] = ("#",), marker: str = "test/marker",
                      timeout: float = WAIT_S) -> Dict[str, bytes]:
    """topic -> payload of everything the broker retains under ``filters`` now."""
    return {m.topic: m.payload for m in retained_messages(port, filters, marker, timeout)}


def retained_qos(port: int, filters: Sequence[str] = ("#",), marker: str = "test/marker",
                 timeout: float = WAIT_S) -> Dict[str, int]:
    """topic -> QoS of every retained message under ``filters`` (0 when it was published
    or retained at QoS 0)."""
    return {m.topic: m.qos for m in retained_messages(port, filters, marker, timeout)}


@pytest.fixture(name="broker")
def broker_fixture(tmp_path: Path):
    """A running Mosquitto of this test's own (stopped at the end)."""
    server = Mosquitto(tmp_path / "mosquitto").start()
    yield server
    server.stop()


@pytest.fixture(name="subscriber")
def subscriber_fixture(broker: Mosquitto):
    sub = Subscriber(broker.port)
    yield sub
    sub.close()


class Outage:
    """A TCP relay 127.0.0.1:port -> the broker that a test can cut and restore: the
    bridge behind it loses the broker while the test's subscriber stays connected.
    ``delay_s`` holds every broker -> bridge chunk that long (a slow broker: PUBACKs come
    late); :meth:`hold` stops passing broker -> bridge bytes until :meth:`release`."""

    def __init__(self, target_port: int, delay_s: float = 0.0) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.flowing = threading.Event()
        self.flowing.set()
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of its thread
            except OSError:
                pass
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client, self.delay_s, self.flowing),
                             daemon=True).start()

    def hold(self) -> None:
        """Broker -> bridge bytes wait (no PUBACK reaches the bridge) until release()."""
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()


def _pump(source: socket.socket, sink: socket.socket, delay_s: float = 0.0,
          flowing: Optional[threading.Event] = None) -> None:
    """Copy ``source`` to ``sink``; each chunk is written ``delay_s`` after it was read (a
    latency, not a throughput limit), and only while ``flowing`` is set."""
    import queue

    chunks: "queue.Queue[Optional[tuple]]" = queue.Queue()

    def write() -> None:
        try:
            while True:
                item = chunks.get()
                if item is None:
                    break
                at, data = item
                pause = at + delay_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # the simulated latency of a slow broker
                while flowing is not None and not flowing.wait(0.1):
                    pass
                sink.sendall(data)
        except OSError:
            pass
        _shut(source, sink)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            chunks.put((time.monotonic(), data))
    except OSError:
        pass
    chunks.put(None)
    if flowing is None or flowing.is_set():
        writer.join(delay_s + 1.0)
    _shut(source, sink)


def _shut(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# -- the bridge under test -------------------------------------------------------------
CAMERA_CUSTOMIZE = {"motion": {"delay": 1.0}, "line_crossing": {"ignored": True}}
NVR_CUSTOMIZE = {"motion_1": {"delay": 1.0}, "field_detection_2": {"ignored": True}}
HEARTBEAT_S = 0.2


def camera(emulators: Any, name: str = "Front Porch", **kw: Any) -> Any:
    """A camera with motion, line crossing and alarm input 1 (heartbeats every 0.2 s)."""
    from pyhik.emulator import TriggerSpec
    kw.setdefault("triggers", [TriggerSpec("VMD", channel=1), TriggerSpec("linedetection", channel=1),
                               TriggerSpec("IO", io_port=1)])
    return emulators(name, heartbeat_s=HEARTBEAT_S, **kw)


def nvr(emulators: Any, name: str = "Home", channels: int = 2, **kw: Any) -> Any:
    """An NVR with motion, line crossing and field detection on every channel."""
    from pyhik.emulator import TriggerSpec
    triggers = [TriggerSpec(event, channel=ch) for ch in range(1, channels + 1)
                for event in ("VMD", "linedetection", "fielddetection")]
    return emulators(name, kind="nvr", channels=channels, heartbeat_s=HEARTBEAT_S,
                     triggers=triggers, **kw)


def config(dev: Any, customize: Optional[Dict[str, Any]] = None, **extra: Any) -> Any:
    """The configuration entry of an emulated device (its credentials, 127.0.0.1)."""
    from pyhik.sensors.config import parse_device

    entry = {"host": "127.0.0.1", "port": dev.port, "username": "admin", "password": "12345",
             "customize": customize or {}}
    entry.update(extra)
    return parse_device(entry)


def device_options() -> Dict[str, Any]:
    """Quick stream reconnects, a 1 s watchdog and a 0.5 s release of active-only events."""
    from pyhik.stream.recovery import Backoff, Watchdog

    return {"backoff": Backoff(0.05, 0.2, jitter=0.0),
                "watchdog": Watchdog(min_limit_s=1.0, silent_limit_s=1.0), "stale_s": 0.5}


def make_bridge(port: int, configs: List[Any], bridge_id: str = "test", **kw: Any) -> Any:
    """A bridge with quick reconnects and births, not started."""
    from pyhik.mqtt.bridge import Bridge
    from pyhik.mqtt.broker import Broker
    from pyhik.mqtt.topics import Topics
    from pyhik.stream.recovery import Backoff

    topics = Topics(bridge_id, kw.pop("base", "pyhik"), kw.pop("prefix", "homeassistant"))
    kw.setdefault("device_options", device_options)
    kw.setdefault("backoff", Backoff(0.05, 0.3, jitter=0.2))
    kw.setdefault("takeover_backoff", Backoff(0.1, 0.3, jitter=0.2))
    kw.setdefault("setup_backoff", lambda: Backoff(0.05, 0.2))
    kw.setdefault("birth_delay_s", (0.05, 0.1))
    return Bridge(configs, Broker("127.0.0.1", port), topics, **kw)
