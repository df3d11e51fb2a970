"""``pyhik demo --mqtt``: the emulated devices reach a real Mosquitto; and the library
without paho-mqtt."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from mqttkit import broker_fixture, subscriber_fixture  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parent.parent


def test_demo_publishes_the_emulated_devices(broker, subscriber):
    from pyhik.cli.mqtt_demo import run_mqtt_demo

    stop = threading.Event()
    notes = []
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "code", run_mqtt_demo(broker.url, notes.append, stop=stop, time_scale=0.05)))
    thread.start()
    try:
        def seen(entity: str) -> bool:
            return any(entity.encode() in m.payload for m in subscriber.messages
                       if m.topic.startswith("homeassistant/device/"))
        assert subscriber.wait(lambda: seen("binary_sensor.front_porch_motion")
                               and seen("binary_sensor.home_motion_1"))
        assert subscriber.wait(lambda: any(m.topic.endswith("/motion/state") and m.payload == b"ON"
                                           for m in subscriber.messages))
        assert subscriber.wait_last("pyhik/bridge/demo/availability", "online")
    finally:
        stop.set()
        thread.join(10)
    assert result == {"code": 0}
    assert subscriber.wait_last("pyhik/bridge/demo/availability", "offline")
    assert any("Home Assistant" in n for n in notes)


def test_reconnect_backoff_is_quick_capped_and_jittered():
    from pyhik.mqtt.session import default_backoff

    delays = [default_backoff().next_delay() for _ in range(50)]
    assert max(delays) <= 1.0 and len(set(delays)) > 1  # the first retry within 1 s
    backoff = default_backoff()
    assert max(backoff.next_delay() for _ in range(30)) <= 8.0


BLOCK_PAHO = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "paho" or name.startswith("paho."):
            raise ImportError("no paho here")
sys.meta_path.insert(0, Block())
import pyhik, pyhik.sensors.entities, pyhik.hikvision
from pyhik.cli.main import build_parser, main
build_parser()
assert not any(m.startswith("paho") for m in sys.modules)
sys.exit(main(["mqtt", "--config", "x.yaml", "--broker", "mqtt://127.0.0.1:1"]))
"""


def test_the_library_does_not_need_paho():
    result = subprocess.run([sys.executable, "-c", BLOCK_PAHO], cwd=str(REPO),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "pip install 'pyhik[mqtt]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_command_with_mqtt_flag(broker, subscriber):
    """``pyhik demo --mqtt URL`` (the command README shows) publishes, and SIGTERM ends it."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "pyhik", "demo", "--mqtt", broker.url],
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert subscriber.wait(lambda: any(b"binary_sensor.front_porch_motion" in m.payload
                                           for m in subscriber.messages
                                           if m.topic.startswith("homeassistant/device/")))
        assert subscriber.wait_last("pyhik/bridge/demo/availability", "online")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Front Porch" in out
    assert subscriber.wait_last("pyhik/bridge/demo/availability", "offline")
