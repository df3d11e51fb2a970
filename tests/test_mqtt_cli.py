"""``pyhik mqtt`` as a process against a real Mosquitto: signals, Last Will, errors, auth, TLS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from mqttkit import (  # noqa: F401 (fixtures)
    Mosquitto,
    Subscriber,
    broker_fixture,
    camera,
    free_port,
    nvr,
    skip_or_fail,
    subscriber_fixture,
)

from pyhik.mqtt.topics import device_topic_id

REPO = Path(__file__).resolve().parent.parent


def write_config(path: Path, *devices: Any, customize: Optional[dict] = None) -> Path:
    lines = ["binary_sensor:"]
    for dev in devices:
        lines += ["  - platform: hikvision", "    host: 127.0.0.1", f"    port: {dev.port}",
                  "    username: admin", "    password: '12345'"]
        if customize:
            lines.append("    customize:")
            for key, options in customize.items():
                lines.append(f"      {key}:")
                lines += [f"        {k}: {str(v).lower() if isinstance(v, bool) else v}"
                          for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_bridge(config: Path, broker_url: str, *extra: str,
                 env: Optional[dict] = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pyhik", "mqtt", "--config", str(config), "--broker", broker_url,
         *extra], cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})


def run_bridge(config: Path, broker_url: str, *extra: str, env: Optional[dict] = None,
               timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyhik", "mqtt", "--config", str(config), "--broker", broker_url,
         *extra], cwd=str(REPO), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_publishes_offline_everywhere_and_exits_0(broker, subscriber, emulators,
                                                         tmp_path, sig):
    cam, rec = camera(emulators), nvr(emulators)
    cfg = write_config(tmp_path / "c.yaml", cam, rec)
    proc = start_bridge(cfg, broker.url, "--bridge-id", "sig")
    try:
        nodes = [device_topic_id(d.identity.device_id) for d in (cam, rec)]
        for node in nodes:
            assert subscriber.wait_last(f"pyhik/{node}/availability", "online", timeout=15)
        assert subscriber.wait_last("pyhik/bridge/sig/availability", "online")
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(10)
        took = time.monotonic() - sent
        assert code == 0 and took < 2.0, (code, took, proc.stderr.read())
        for node in nodes:
            assert subscriber.wait_last(f"pyhik/{node}/availability", "offline")
        assert subscriber.wait_last("pyhik/bridge/sig/availability", "offline")
    finally:
        finish(proc)


def test_kill_9_fires_the_last_will_and_spares_another_bridge(broker, subscriber, emulators,
                                                              tmp_path):
    cam, rec = camera(emulators), nvr(emulators)
    one = start_bridge(write_config(tmp_path / "a.yaml", cam), broker.url, "--bridge-id", "a")
    two = start_bridge(write_config(tmp_path / "b.yaml", rec), broker.url, "--bridge-id", "b")
    try:
        for topic in ("pyhik/bridge/a/availability", "pyhik/bridge/b/availability",
                      f"pyhik/{device_topic_id(rec.identity.device_id)}/availability"):
            assert subscriber.wait_last(topic, "online", timeout=15), topic
        os.kill(one.pid, signal.SIGKILL)
        assert subscriber.wait_last("pyhik/bridge/a/availability", "offline")
        subscriber.publish("test/marker", "after the will")
        assert subscriber.wait(lambda: subscriber.last("test/marker") is not None)
        assert "offline" not in [m.text for m in subscriber.on("pyhik/bridge/b/availability")]
        assert subscriber.last_text(
            f"pyhik/{device_topic_id(rec.identity.device_id)}/availability") == "online"
    finally:
        finish(one)
        two.send_signal(signal.SIGTERM)
        finish(two)
    snap_sub = Subscriber(broker.port, ["pyhik/bridge/a/availability"], name="late")
    try:  # the will is retained
        assert snap_sub.wait_last("pyhik/bridge/a/availability", "offline")
    finally:
        snap_sub.close()


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyhik mqtt: "), lines
    for word in words:
        assert word in lines[0].lower(), lines[0]


def test_unreachable_broker_at_start(emulators, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", camera(emulators))
    result = run_bridge(cfg, f"mqtt://127.0.0.1:{free_port()}", "--connect-timeout", "1")
    one_line_error(result, "cannot reach the broker", "refused")


def test_bad_configuration(tmp_path, broker):
    bad = tmp_path / "bad.yaml"
    bad.write_text("binary_sensor:\n  - platform: hikvision\n    host: 127.0.0.1\n    colour: red\n")
    one_line_error(run_bridge(bad, broker.url), "colour")
    one_line_error(run_bridge(tmp_path / "missing.yaml", broker.url), "missing.yaml")
    good = write_config(tmp_path / "c.yaml")
    one_line_error(run_bridge(good, "http://127.0.0.1:1883"), "mqtt://")
    one_line_error(run_bridge(good, broker.url, "--bridge-id", "Bad Id"), "bridge-id")


def test_broker_login(tmp_path, emulators):
    passwd = "/usr/bin/mosquitto_passwd"
    if not os.path.exists(passwd):
        skip_or_fail("mosquitto_passwd is missing: apt-get install -y mosquitto")
    pwfile = tmp_path / "passwords"
    pwfile.write_text("")
    subprocess.run([passwd, "-b", str(pwfile), "bridge", "s3cret"], check=True)
    subprocess.run([passwd, "-b", str(pwfile), "watcher", "w"], check=True)
    server = Mosquitto(tmp_path / "m", anonymous=False, extra=[f"password_file {pwfile}"]).start()
    try:
        cfg = write_config(tmp_path / "c.yaml", camera(emulators))
        url = f"mqtt://bridge@127.0.0.1:{server.port}"
        result = run_bridge(cfg, url, env={"PYHIK_MQTT_PASSWORD": "wrong"})
        one_line_error(result, "refused")
        assert "wrong" not in result.stderr
        sub = Subscriber(server.port, ["pyhik/#"], username="watcher", password="w")
        proc = start_bridge(cfg, url, "--bridge-id", "auth", env={"PYHIK_MQTT_PASSWORD": "s3cret"})
        try:
            assert sub.wait_last("pyhik/bridge/auth/availability", "online", timeout=15)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            finish(proc)
            sub.close()
    finally:
        server.stop()


def make_ca(folder: Path) -> dict:
    """A test CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=str(folder), check=True, capture_output=True)
    folder.mkdir(parents=True, exist_ok=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pyhik test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return {name: str(folder / name) for name in ("ca.crt", "server.crt", "server.key")}


def test_broker_tls(tmp_path, emulators):
    if not os.path.exists("/usr/bin/openssl"):
        skip_or_fail("openssl is missing: apt-get install -y openssl")
    pki = make_ca(tmp_path / "pki")
    other = make_ca(tmp_path / "other")
    tls_port = free_port()
    server = Mosquitto(tmp_path / "m", tls_port=tls_port, extra=[
        f"listener {tls_port} 127.0.0.1", f"cafile {pki['ca.crt']}",
        f"certfile {pki['server.crt']}", f"keyfile {pki['server.key']}"]).start()
    try:
        cfg = write_config(tmp_path / "c.yaml", camera(emulators))
        url = f"mqtts://127.0.0.1:{tls_port}"
        sub = Subscriber(server.port, ["pyhik/#"])
        proc = start_bridge(cfg, url, "--tls-ca", pki["ca.crt"], "--bridge-id", "tls")
        try:
            assert sub.wait_last("pyhik/bridge/tls/availability", "online", timeout=15), \
                proc.stderr.read() if proc.poll() is not None else ""
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            finish(proc)
            sub.close()
        result = run_bridge(cfg, url, "--tls-ca", other["ca.crt"], "--connect-timeout", "3")
        one_line_error(result, "tls", "certificate")
        one_line_error(run_bridge(cfg, url, "--connect-timeout", "3"), "tls")
    finally:
        server.stop()


def test_a_password_with_a_slash_is_not_echoed(tmp_path):
    result = run_bridge(write_config(tmp_path / "c.yaml"), "mqtt://bob:hunter2/x@127.0.0.1")
    one_line_error(result, "percent-encoded")
    assert "hunter2" not in result.stderr and "x@" not in result.stderr


def test_a_silent_broker_at_start_is_given_up_in_time(emulators, tmp_path):
    """A listener that accepts and never answers: the whole give-up (stop included) fits
    in --connect-timeout plus a margin, so the default keeps the promised 15 s."""
    import socket

    from pyhik.cli.mqtt import CONNECT_TIMEOUT_S

    assert CONNECT_TIMEOUT_S + 1.5 <= 15.0
    cfg = write_config(tmp_path / "c.yaml", camera(emulators))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nothing ever answers
        started = time.monotonic()
        result = run_bridge(cfg, f"mqtt://127.0.0.1:{silent.getsockname()[1]}",
                            "--connect-timeout", "2")
        took = time.monotonic() - started
    one_line_error(result, "cannot reach the broker")
    assert took < 2 + 1.5, took


def test_the_broker_url_from_the_environment(broker, subscriber, emulators, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", camera(emulators))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyhik", "mqtt", "--config", str(cfg), "--bridge-id", "env"],
        cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYHIK_MQTT_BROKER": broker.url})
    try:
        assert subscriber.wait_last("pyhik/bridge/env/availability", "online", timeout=15), \
            proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert subscriber.wait_last("pyhik/bridge/env/availability", "offline")
    finally:
        finish(proc)
