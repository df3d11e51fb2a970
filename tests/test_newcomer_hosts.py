"""One reading of a host for every entry point: host, http://host, https://host:8443, ::1, [::1]."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import can_bind_ipv6_loopback, fast_options

import pyhik
from pyhik.cli.check import run_check
from pyhik.cli.main import main
from pyhik.emulator import TriggerSpec
from pyhik.errors import ConfigError
from pyhik.hikvision import HikCamera
from pyhik.isapi.client import IsapiClient
from pyhik.isapi.http import split_host
from pyhik.sensors.config import load_file, parse_device
from pyhik.sensors.entities import DeviceSensors

PASSWORD = "S3cret!"
TRIGGERS = [TriggerSpec("VMD", channel=1)]
ROOT = Path(pyhik.__file__).resolve().parent.parent


needs_ipv6 = pytest.mark.skipif(not can_bind_ipv6_loopback(),
                                reason="this machine cannot bind the IPv6 loopback ::1")


@pytest.mark.parametrize("host, port, ssl, expected", [
    ("cam", None, None, ("http", "cam", 80)),
    ("http://cam", None, None, ("http", "cam", 80)),
    ("https://cam", None, None, ("https", "cam", 443)),
    ("https://cam:8443", 80, None, ("https", "cam", 8443)),
    ("cam", None, True, ("https", "cam", 443)),
    ("HTTPS://cam/", 8443, True, ("https", "cam", 8443)),
    ("::1", 8080, None, ("http", "::1", 8080)),
    ("[::1]", None, None, ("http", "::1", 80)),
    ("[::1]:8081", 80, None, ("http", "::1", 8081)),
    ("http://::1", 81, None, ("http", "::1", 81)),
    ("https://[fe80::1]:8443", None, None, ("https", "fe80::1", 8443)),
])
def test_split_host_reads_every_form(host, port, ssl, expected):
    assert split_host(host, port, ssl) == expected


@pytest.mark.parametrize("host, ssl, words", [
    ("http://cam", True, "says http"), ("https://cam", False, "says https"),
    ("[::1", None, "not a valid address"), ("::zz", None, "not a valid address"),
    ("cam:99999", None, "invalid port"), ("ftp://cam", None, "http or https"),
    ("http://", None, "no host name")])
def test_split_host_refuses_with_one_clear_error(host, ssl, words):
    with pytest.raises(ConfigError, match=words):
        split_host(host, None, ssl)


def test_isapi_client_base_urls():
    for host, port, base_url in (("::1", 8080, "http://[::1]:8080"),
                                 ("https://cam", None, "https://cam:443"),
                                 ("[::1]:81", 80, "http://[::1]:81")):
        with IsapiClient(host, port) as client:
            assert client.base_url == base_url


# -- the config layer picks ssl and port defaults from the scheme ------------------------
def test_config_ssl_and_port_follow_the_hosts_scheme():
    config = parse_device({"host": "https://cam.local"})
    assert (config.ssl, config.port) == (True, 443)
    config = parse_device({"host": "http://cam.local", "port": "18080", "ssl": "false"})
    assert (config.ssl, config.port) == (False, 18080)
    assert parse_device({"host": "cam", "ssl": "true"}).port == 443
    with pytest.raises(ConfigError, match="host 'https://cam' says https, but ssl is off"):
        parse_device({"host": "https://cam", "ssl": False})


# -- every entry point, against a real emulator -----------------------------------------
def test_hikcamera_with_an_http_host_and_on_ipv6(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", PASSWORD)
    assert cam.get_name == "Front Porch" and cam.root_url == f"http://127.0.0.1:{emu.port}"


@needs_ipv6
@pytest.mark.parametrize("form", ["::1", "[::1]", "http://[::1]"])
def test_hikcamera_on_the_ipv6_loopback(emulators, form):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS, host="::1")
    cam = HikCamera(form, emu.port, "admin", PASSWORD)
    assert cam.get_name == "Front Porch", cam.last_error
    assert cam.root_url == f"http://[::1]:{emu.port}"


@pytest.mark.parametrize("host", ["http://127.0.0.1", "127.0.0.1", "::1"])
def test_device_sensors_from_config(emulators, host):
    if ":" in host.replace("://", "") and not can_bind_ipv6_loopback():
        pytest.skip("this machine cannot bind the IPv6 loopback ::1")
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS,
                    host="::1" if host == "::1" else "127.0.0.1")
    hub = DeviceSensors.from_config({"host": host, "port": emu.port, "username": "admin",
                                     "password": PASSWORD}, **fast_options())
    try:
        hub.setup()
        assert [s.entity_id for s in hub.sensors] == ["binary_sensor.front_porch_motion"]
    finally:
        hub.close()


def test_watch_with_an_http_host(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    assert main(["watch", "--host", "http://127.0.0.1", "--port", str(emu.port),
                 "--username", "admin", "--password", PASSWORD, "--duration", "0"]) == 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{emu.port}" in out and "binary_sensor.front_porch_motion" in out


def test_watch_config_file_with_an_http_host(emulators, tmp_path, capsys):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    path = tmp_path / "configuration.yaml"
    path.write_text("binary_sensor:\n  - platform: hikvision\n    host: http://127.0.0.1\n"
                    f"    port: \"{emu.port}\"\n    ssl: \"false\"\n    username: admin\n"
                    f"    password: {PASSWORD}\n")
    assert load_file(str(path))[0].port == emu.port
    assert main(["watch", "--config", str(path), "--duration", "0"]) == 0
    assert "binary_sensor.front_porch_motion" in capsys.readouterr().out


@needs_ipv6
def test_watch_and_check_on_the_ipv6_loopback(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS, host="::1")
    assert main(["watch", "--host", "::1", "--port", str(emu.port), "--username", "admin",
                 "--password", PASSWORD, "--duration", "0"]) == 0
    assert f"http://[::1]:{emu.port}" in capsys.readouterr().out
    assert main(["check", "--host", "[::1]", "--port", str(emu.port), "--username", "admin",
                 "--password", PASSWORD]) == 0, capsys.readouterr().out


def test_check_with_an_http_host_and_a_contradiction(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    assert run_check("http://127.0.0.1", emu.port, "admin", PASSWORD) == 0
    assert f"http://127.0.0.1:{emu.port}: all is well" in capsys.readouterr().out
    assert run_check("http://127.0.0.1", emu.port, "admin", PASSWORD, ssl=True) == 1
    assert "says http" in capsys.readouterr().out


@needs_ipv6
def test_emulate_listens_on_the_ipv6_loopback():
    env = {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pyhik", "emulate", "--host", "::1",
                             "--heartbeat", "0"], cwd=str(ROOT), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        match = re.match(r"Emulated camera 'Front Porch' at (http://\[::1\]:\d+)", first)
        assert match, first + proc.stderr.read() if proc.poll() is not None else first
        answer = requests.get(match.group(1) + "/ISAPI/System/deviceInfo", timeout=5)
        assert answer.status_code == 401
    finally:
        proc.terminate()
        proc.communicate(timeout=5)


def test_a_device_config_built_directly_leaves_scheme_and_port_to_the_host():
    from pyhik.sensors.config import DeviceConfig
    hub = DeviceSensors(DeviceConfig(host="https://cam.local"))
    assert hub.device.client.base_url == "https://cam.local:443"
    hub.close()
    hub = DeviceSensors(DeviceConfig(host="cam.local"))
    assert hub.device.client.base_url == "http://cam.local:80"
    hub.close()
