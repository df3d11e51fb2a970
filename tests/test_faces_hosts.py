"""Hosts as users write them: no password in a host, no IPv6 zone ids, one reading everywhere."""

import logging
import os

import pytest
from conftest import can_bind_ipv6_loopback, fast_options

from pyhik.cli.main import main
from pyhik.emulator import TriggerSpec
from pyhik.errors import ConfigError
from pyhik.hikvision import HikCamera, get_video_channels
from pyhik.isapi.http import split_host
from pyhik.sensors.config import DeviceConfig, parse_device

PASSWORD = "S3cret!"
SECRET = "Secr3t"
TRIGGERS = [TriggerSpec("VMD", channel=1)]


def client_sockets(port):
    """Sockets of this process connected to ``port`` (the client's side of connections)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                cols = row.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in mine:
                    count += 1
    return count


# -- B: a password in the host is refused and never echoed --------------------------------
@pytest.mark.parametrize("host", [f"http://admin:{SECRET}@127.0.0.1:99999",
                                  f"admin:{SECRET}@cam", f"ftp://admin:{SECRET}@cam",
                                  f"https://admin:{SECRET}@[::1]:8443/x"])
def test_split_host_refuses_userinfo_without_echoing_it(host):
    with pytest.raises(ConfigError) as info:
        split_host(host, None, None)
    assert SECRET not in str(info.value)
    assert "username/password" in str(info.value)


def test_hikcamera_with_a_password_in_the_host_logs_no_password(caplog):
    caplog.set_level(logging.DEBUG)
    cam = HikCamera(f"http://admin:{SECRET}@127.0.0.1:99999", 80, "admin", "pw")
    assert cam.get_id is None and isinstance(cam.last_error, ConfigError)
    assert "username/password" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(vars(cam))


def test_config_and_cli_refuse_a_password_in_the_host(capsys):
    with pytest.raises(ConfigError) as info:
        parse_device({"host": f"http://admin:{SECRET}@cam"})
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        DeviceConfig(host=f"admin:{SECRET}@cam")
    assert SECRET not in str(info.value)
    assert main(["watch", "--host", f"http://admin:{SECRET}@127.0.0.1", "--username", "u",
                 "--password", "p", "--duration", "0"]) != 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "username/password" in captured.out + captured.err


# -- D: IPv6 zone ids cannot connect: refused ------------------------------------------
@pytest.mark.parametrize("host", ["fe80::1%eth0", "[fe80::1%25eth0]", "http://[fe80::1%eth0]:80"])
def test_split_host_refuses_ipv6_zone_ids(host):
    with pytest.raises(ConfigError, match="zone id"):
        split_host(host, None, None)


# -- E / G: get_video_channels reads hosts like every entry point; a port as text -------
@pytest.mark.skipif(not can_bind_ipv6_loopback(), reason="cannot bind the IPv6 loopback ::1")
@pytest.mark.parametrize("host", ["http://[::1]", "[::1]", "::1"])
def test_get_video_channels_on_the_ipv6_loopback(emulators, host):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS, host="::1")
    channels = get_video_channels(host, emu.port, "admin", PASSWORD)
    assert [c.id for c in channels] == [1]


def test_get_video_channels_with_a_scheme(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    assert [c.id for c in get_video_channels("http://127.0.0.1", emu.port, "admin",
                                             PASSWORD)] == [1]


def test_hikcamera_takes_a_port_as_text(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    cam = HikCamera("http://127.0.0.1", str(emu.port), "admin", PASSWORD)
    assert cam.get_name == "Front Porch", cam.last_error
    assert cam.port == emu.port


# -- C: HikCamera leaves no idle connection behind -------------------------------------
def test_hikcamera_closes_idle_connections_after_setup_and_disconnect(emulators, recorder):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", PASSWORD)
    assert cam.get_id is not None
    assert client_sockets(emu.port) == 0  # Home Assistant's config flow drops it like this
    cam._device.watcher._backoff = fast_options()["backoff"]
    cam.add_update_callback(recorder, f"{cam.get_id}.Motion.1")
    cam.start_stream()
    assert emu.wait_for_open_streams(1)
    cam.disconnect()
    assert client_sockets(emu.port) == 0
    cam.start_stream()  # the session stays usable after close()
    assert emu.wait_for_open_streams(1) and recorder.wait_count(1)  # connected: called
    emu.push("VMD", "active", 1)
    assert recorder.wait_count(2)
    assert cam.fetch_attributes("Motion", 1)[0] is True
    cam.disconnect()
    assert client_sockets(emu.port) == 0
