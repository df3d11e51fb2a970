"""The ``pyhik`` command: watch, demo, replay, emulate, in-process and as real processes."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from streamkit import fixture_alert_bodies, fixture_alert_files, wrap_multipart

from pyhik.cli import main as cli
from pyhik.cli.demo import run_demo
from pyhik.cli.main import Printer, main
from pyhik.emulator import TriggerSpec

PASSWORD = "S3cret!"
ROOT = Path(__file__).resolve().parent.parent
JSON_KEYS = ["entity_id", "name", "state", "device_class", "event", "channel",
             "last_tripped_time", "delay"]
CAMERA_TRIGGERS = [TriggerSpec("VMD", channel=1), TriggerSpec("linedetection", channel=1)]
BAD_ENTRY = "binary_sensor:\n  - platform: hikvision\n    host: 127.0.0.1\n    username: u\n" \
            "    password: p\n"


@pytest.fixture
def cam(emulators):
    return emulators("Front Porch", password=PASSWORD, triggers=CAMERA_TRIGGERS)


def device_args(emu, password=PASSWORD):
    args = ["--host", "127.0.0.1", "--port", str(emu.port), "--username", "admin"]
    return args + (["--password", password] if password is not None else [])


def play_after_connect(emu, *steps):
    """Push ``(event, state, channel)`` steps once the command's stream is open."""
    def run():
        if emu.wait_for_streams(1, timeout=10):
            for event, state, channel in steps:
                emu.push(event, state, channel)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def python_m_pyhik(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(kwargs.pop("env", {}))
    return [sys.executable, "-m", "pyhik", *args], dict(env=env, cwd=str(ROOT), text=True,
                                                        stdout=subprocess.PIPE,
                                                        stderr=subprocess.PIPE, **kwargs)


# -- watch ---------------------------------------------------------------------------------
def test_watch_json_first_the_sensors_then_one_line_per_change(cam, capsys):
    play_after_connect(cam, ("VMD", "active", 1), ("VMD", "inactive", 1))
    assert main(["watch", *device_args(cam), "--json", "--duration", "1"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert [list(obj) for obj in lines] == [JSON_KEYS] * len(lines)
    assert [(o["entity_id"], o["state"]) for o in lines] == [
        ("binary_sensor.front_porch_motion", "off"),
        ("binary_sensor.front_porch_line_crossing", "off"),
        ("binary_sensor.front_porch_motion", "on"), ("binary_sensor.front_porch_motion", "off")]
    first, on = lines[0], lines[2]
    assert first["last_tripped_time"] is None and first["delay"] == 0
    assert (on["name"], on["device_class"], on["event"], on["channel"]) == \
        ("Front Porch Motion", "motion", "VMD", 1)
    assert datetime.fromisoformat(on["last_tripped_time"]).tzinfo is not None


def test_watch_plain_output(cam, capsys):
    play_after_connect(cam, ("linedetection", "active", 1), ("linedetection", "inactive", 1))
    started = time.monotonic()
    assert main(["watch", *device_args(cam), "--duration", "0.8", "--name", "Porch"]) == 0
    assert 0.75 <= time.monotonic() - started < 3
    out = capsys.readouterr().out
    assert "Porch (camera" in out and "2 sensors" in out
    assert re.search(r"^  binary_sensor\.porch_motion\s+off\s+\(motion\)$", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d  binary_sensor\.porch_line_crossing\s+on$", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d  binary_sensor\.porch_line_crossing\s+off$", out, re.M)


def test_watch_password_from_the_environment(cam, capsys, monkeypatch):
    monkeypatch.setenv("PYHIK_PASSWORD", PASSWORD)
    assert main(["watch", *device_args(cam, password=None), "--json", "--duration", "0"]) == 0
    assert len(json_lines(capsys.readouterr().out)) == 2
    monkeypatch.setenv("PYHIK_PASSWORD", "wrong")
    assert main(["watch", *device_args(cam, password=None), "--duration", "0"]) == 1
    assert "wrong user name or password" in one_error_line(capsys.readouterr().err)
    assert cam.auth_failures == 1


def test_watch_config_file_with_two_devices(emulators, tmp_path, capsys):
    cam = emulators("Front Porch", password=PASSWORD, triggers=CAMERA_TRIGGERS)
    box = emulators("Home", kind="nvr", channels=2, password=PASSWORD)
    config = tmp_path / "configuration.yaml"
    config.write_text(f"""
binary_sensor:
  - platform: template
  - platform: hikvision
    host: 127.0.0.1
    port: {cam.port}
    username: admin
    password: {PASSWORD}
    customize:
      motion:
        delay: 30
      line_crossing:
        ignored: true
  - platform: hikvision
    host: 127.0.0.1
    port: {box.port}
    username: admin
    password: {PASSWORD}
    name: Shed
    customize:
      motion_1:
        delay: 30
""")
    play_after_connect(box, ("VMD", "active", 2))
    assert main(["watch", "--config", str(config), "--json", "--duration", "0.8"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert [o["entity_id"] for o in lines] == [
        "binary_sensor.front_porch_motion", "binary_sensor.shed_motion_1",
        "binary_sensor.shed_line_crossing_1", "binary_sensor.shed_motion_2",
        "binary_sensor.shed_line_crossing_2", "binary_sensor.shed_motion_2"]
    assert lines[0]["delay"] == 30 and lines[1]["delay"] == 30 and lines[-1]["state"] == "on"


def test_watch_starts_nothing_when_one_device_fails(emulators, tmp_path, capsys):
    good = emulators("Front Porch", password=PASSWORD)
    bad = emulators("Home", kind="nvr", channels=2, password="other")
    config = tmp_path / "configuration.yaml"
    config.write_text("binary_sensor:\n" + "".join(
        f"  - platform: hikvision\n    host: 127.0.0.1\n    port: {emu.port}\n"
        f"    username: admin\n    password: {PASSWORD}\n" for emu in (good, bad)))
    assert main(["watch", "--config", str(config), "--duration", "5"]) == 1
    captured = capsys.readouterr()
    assert "wrong user name or password" in one_error_line(captured.err)
    assert good.streams_opened == 0 and bad.streams_opened == 0 and captured.out == ""


@pytest.mark.parametrize("customize, key", [
    ("    customize:\n      motion:\n        delay: -5\n", "delay"),
    ("    customize:\n      motion:\n        ignored: maybe\n", "ignored"),
    ("    customize:\n      motoin:\n        delay: 1\n", "motoin"),
    ("    hostname: cam\n", "hostname"),
])
def test_watch_bad_config_is_one_clear_line(tmp_path, capsys, customize, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_ENTRY + customize)
    assert main(["watch", "--config", str(bad), "--duration", "1"]) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert key in line and line.startswith("pyhik watch: ") and str(bad) in line
    assert captured.out == ""


def test_watch_missing_host_and_mixed_options(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("binary_sensor:\n  - platform: hikvision\n    username: u\n")
    assert main(["watch", "--config", str(bad)]) == 1
    assert "host: required" in one_error_line(capsys.readouterr().err)
    assert main(["watch", "--config", str(bad), "--host", "h"]) == 1
    assert "--host" in one_error_line(capsys.readouterr().err)
    assert main(["watch", "--username", "u"]) == 1
    assert "--host" in one_error_line(capsys.readouterr().err)
    assert main(["watch", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in one_error_line(capsys.readouterr().err)


def test_watch_device_errors_are_one_line(emulators, cam, capsys):
    free = emulators("Gone")
    port = free.port
    free.stop()
    assert main(["watch", "--host", "127.0.0.1", "--port", str(port), "--username", "u",
                 "--password", "p", "--duration", "1"]) == 1
    assert "cannot reach" in one_error_line(capsys.readouterr().err)
    cam.set_stream_status(403)
    assert main(["watch", *device_args(cam), "--duration", "30"]) == 1
    captured = capsys.readouterr()
    assert "Notify Surveillance Center" in one_error_line(captured.err)


def test_watch_real_process_json(cam):
    play_after_connect(cam, ("VMD", "active", 1))
    cmd, options = python_m_pyhik("watch", *device_args(cam), "--json", "--duration", "1.5")
    proc = subprocess.run(cmd, timeout=20, **options)
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert [(o["entity_id"], o["state"]) for o in lines] == [
        ("binary_sensor.front_porch_motion", "off"),
        ("binary_sensor.front_porch_line_crossing", "off"),
        ("binary_sensor.front_porch_motion", "on")]
    assert "Traceback" not in proc.stderr


def test_watch_real_process_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_ENTRY + "    customize:\n      motion:\n        delay: -5\n")
    cmd, options = python_m_pyhik("watch", "--config", str(bad), "--duration", "1")
    proc = subprocess.run(cmd, timeout=20, **options)
    assert proc.returncode not in (0, None)
    assert "delay" in one_error_line(proc.stderr)


# Python keeps SIGINT ignored when its parent ignored it (a test run started in the
# background by a shell without job control): make the child's Ctrl-C a terminal's.
AT_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                 "signal.default_int_handler); runpy.run_module('pyhik', run_name='__main__')")


def test_ctrl_c_stops_watch_at_once_without_traceback(cam):
    cmd, options = python_m_pyhik("watch", *device_args(cam))
    cmd[1:3] = ["-c", AT_A_TERMINAL]
    proc = subprocess.Popen(cmd, **options)
    try:
        assert cam.wait_for_streams(1, timeout=15)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=5)
        assert time.monotonic() - sent < 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert "Traceback" not in err and "binary_sensor.front_porch_motion" in out
    assert cam.wait_for_open_streams(0)



def test_watch_exits_quietly_when_its_reader_goes_away(cam):
    """``pyhik watch --json | head -1``: no traceback, a prompt exit."""
    cmd, options = python_m_pyhik("watch", "--json", *device_args(cam))
    proc = subprocess.Popen(cmd, **options)
    try:
        proc.stdout.readline()
        # The stream must be open before the reader goes: closing first lets watch exit
        # (correctly, quietly) on its next start-up line, before it ever opens the stream.
        assert cam.wait_for_streams(1, timeout=15)
        proc.stdout.close()  # the reader is gone
        for _ in range(3):
            cam.push("VMD", "active")
            cam.push("VMD", "inactive")
        err = proc.stderr.read()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err and "Broken pipe" not in err

# -- demo ----------------------------------------------------------------------------------
def test_demo_plays_the_docs_examples_quickly(capsys):
    started = time.monotonic()
    assert run_demo(Printer(False), time_scale=0.05) == 0
    assert time.monotonic() - started < 8
    out = capsys.readouterr().out
    for entity in ("binary_sensor.front_porch_motion", "binary_sensor.home_motion_1",
                   "binary_sensor.home_motion_2"):
        assert entity in out
    assert "binary_sensor.front_porch_line_crossing" not in out, "ignored by customize"
    assert "home_field_detection_2" not in out
    events = re.findall(r"^\d\d:\d\d:\d\d  (binary_sensor\.\w+)\s+(on|off)$", out, re.M)
    assert ("binary_sensor.home_motion_2", "on") in events
    assert events[-2:] == [("binary_sensor.front_porch_motion", "off"),
                           ("binary_sensor.home_motion_1", "off")], "the delayed ones go last"
    assert events.index(("binary_sensor.home_motion_2", "off")) < events.index(
        ("binary_sensor.home_line_crossing_1", "off"))
    assert out.rstrip().endswith("Done.")


def test_demo_json_and_docstring():
    assert "time_scale" in run_demo.__doc__
    lines = []

    class Collect(Printer):
        def line(self, text):
            lines.append(text)

    assert run_demo(Collect(True), time_scale=0.03) == 0
    objects = [json.loads(line) for line in lines]
    assert {o["entity_id"] for o in objects} >= {"binary_sensor.front_porch_motion",
                                                 "binary_sensor.home_motion_1"}
    assert objects[0]["delay"] == pytest.approx(0.9)


def test_demo_forever_plays_again_until_stopped():
    stop = threading.Event()
    notes = []

    class Collect(Printer):
        def line(self, text):
            notes.append(text)
            if sum("Front Porch: motion starts" in n for n in notes) == 2:
                stop.set()

    started = time.monotonic()
    assert run_demo(Collect(False), forever=True, stop=stop, time_scale=0.02) == 0
    assert stop.is_set() and time.monotonic() - started < 8


# -- replay --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", fixture_alert_files(), ids=lambda p: p.name)
def test_replay_each_fixture_alert(path, capsys):
    assert main(["replay", str(path), "--json"]) == 0
    [obj] = json_lines(capsys.readouterr().out)
    assert {"event", "name", "state", "channel", "io_port", "count", "time"} <= set(obj)
    match = re.match(r"^[a-z]+_[^_]+_(ch(\d+)_)?([A-Za-z]+)_", path.name)
    assert obj["event"].lower() == match.group(3).lower()
    if match.group(2):
        assert obj["channel"] == int(match.group(2))
    assert obj["state"] in ("active", "inactive")


def test_replay_a_multipart_capture(tmp_path, capsys):
    bodies = fixture_alert_bodies()
    capture = tmp_path / "capture.bin"
    capture.write_bytes(wrap_multipart(bodies))
    assert main(["replay", str(capture), "--json"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert len(lines) == len(bodies)
    assert main(["replay", str(capture)]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert len(plain) == len(bodies) and "Motion (VMD)" in "\n".join(plain)


def test_replay_errors(tmp_path, capsys):
    empty = tmp_path / "nothing.txt"
    empty.write_text("no alert in here\n")
    assert main(["replay", str(empty)]) == 1
    assert "no alert found" in one_error_line(capsys.readouterr().err)
    assert main(["replay", str(tmp_path / "missing.bin")]) == 1
    assert "cannot read" in one_error_line(capsys.readouterr().err)


# -- emulate and the rest ----------------------------------------------------------------
def test_emulate_serves_until_interrupted():
    cmd, options = python_m_pyhik("emulate", "--nvr", "2", "--name", "Home", "--heartbeat", "0")
    proc = subprocess.Popen(cmd, **options)
    try:
        first = proc.stdout.readline()
        assert re.match(r"Emulated NVR with 2 channels 'Home' at http://127\.0\.0\.1:\d+", first)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err


def test_no_command_prints_help(capsys):
    assert main([]) == cli.EXIT_USAGE
    assert "watch" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "pyhik" in capsys.readouterr().out
