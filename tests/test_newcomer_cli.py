"""What a new user meets on the command line: verbosity, config files, passwords, TLS, small ones."""

import io
import logging
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import fast_options

import pyhik
from pyhik.cli import main as cli
from pyhik.cli.check import run_check
from pyhik.cli.demo import run_demo
from pyhik.cli.main import Printer, build_parser, main, start_hubs, stop_hubs
from pyhik.cli.options import configs_from_args
from pyhik.emulator import TriggerSpec
from pyhik.errors import ConfigError
from pyhik.sensors.config import load_file, parse_device

PASSWORD = "S3cret!"
ROOT = Path(pyhik.__file__).resolve().parent.parent
TRIGGERS = [TriggerSpec("VMD", channel=1)]
LATIN1_YAML = ("binary_sensor:\n  - platform: hikvision\n    host: 127.0.0.1\n    username: u\n"
               "    password: p\n    name: Côte\n").encode("latin-1")


def pyhik_process(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(PASSWORD_ENV, None)
    return subprocess.run([sys.executable, "-m", "pyhik", *args], cwd=str(ROOT), env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, **kwargs)


PASSWORD_ENV = "PYHIK_PASSWORD"


def stderr_lines(text):
    return [line for line in text.splitlines() if line.strip()]


# -- 2. a config file that is not UTF-8 -------------------------------------------------
@pytest.mark.parametrize("content, words", [
    (LATIN1_YAML, "is not UTF-8 text (line 6"),
    (bytes(range(256)) * 4, "not a text file"),
])
def test_a_config_that_is_not_utf8_is_one_line(tmp_path, content, words):
    path = tmp_path / "configuration.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_file(str(path))
    done = pyhik_process("watch", "--config", str(path), "--duration", "1")
    lines = stderr_lines(done.stderr)
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("pyhik watch: ") and words in lines[0]


def test_invalid_yaml_is_one_line_too(tmp_path, capsys):
    path = tmp_path / "configuration.yaml"
    path.write_text("binary_sensor:\n  - platform: [hikvision\n    host: x\n")
    assert main(["watch", "--config", str(path)]) == 1
    [line] = stderr_lines(capsys.readouterr().err)
    assert "is not valid YAML" in line and "(line " in line


# -- 3. -v after the subcommand -----------------------------------------------------------
@pytest.mark.parametrize("argv, level", [
    (["replay", "x", "-v"], 1), (["replay", "x", "-vv"], 2), (["-v", "replay", "x"], 1),
    (["-vv", "replay", "x"], 2), (["-v", "replay", "x", "-v"], 2), (["replay", "x"], 0)])
def test_verbosity_before_and_after_the_subcommand_adds_up(argv, level):
    assert cli.verbosity(build_parser().parse_args(argv)) == level


def test_every_subcommand_takes_v():
    for command in cli.SUBCOMMANDS:
        parser = build_parser()
        extra = {"replay": ["x"], "mqtt": ["--config", "x.yaml"]}.get(command.name, [])
        assert cli.verbosity(parser.parse_args([command.name, *extra, "-vv"])) == 2


def test_readmes_watch_v_runs(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    assert main(["watch", "--host", "127.0.0.1", "--port", str(emu.port), "--username",
                 "admin", "--password", PASSWORD, "--duration", "0", "-v"]) == 0


# -- 5. no password: said before the device is asked ----------------------------------
def test_watch_without_a_password_never_touches_the_device(capsys, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        assert main(["watch", "--host", "127.0.0.1", "--port", str(port),
                     "--username", "admin"]) == 1
        [line] = stderr_lines(capsys.readouterr().err)
        assert "no password given" in line and PASSWORD_ENV in line
        server.setblocking(False)
        with pytest.raises(BlockingIOError):  # a connection would be waiting in the backlog
            server.accept()


# -- TLS: verify_ssl through the CLI, the config file and DeviceSensors ------------------
def args_of(*argv):
    return build_parser().parse_args(["watch", "--host", "cam", "--username", "u",
                                      "--password", "p", *argv])


def test_ca_file_and_no_verify_ssl(tmp_path, capsys):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert configs_from_args(args_of())[0].verify_ssl is True
    assert configs_from_args(args_of("--no-verify-ssl"))[0].verify_ssl is False
    assert configs_from_args(args_of("--ca-file", str(bundle)))[0].verify_ssl == str(bundle)
    with pytest.raises(ConfigError, match="--ca-file .*no such file"):
        configs_from_args(args_of("--ca-file", str(tmp_path / "missing.pem")))
    with pytest.raises(SystemExit):
        args_of("--ca-file", str(bundle), "--no-verify-ssl")
    assert "not allowed with" in capsys.readouterr().err
    check = build_parser().parse_args(["check", "--host", "cam", "--ca-file", str(bundle)])
    assert check.ca_file == str(bundle)


def test_verify_ssl_in_the_config_file(tmp_path):
    (tmp_path / "certs").mkdir()
    bundle = tmp_path / "certs" / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "configuration.yaml"
    entry = "  - platform: hikvision\n    host: https://cam\n    verify_ssl: {}\n"
    path.write_text("binary_sensor:\n" + "".join(entry.format(v) for v in
                                                 ("certs/ca.pem", "false", '"false"', "true")))
    configs = load_file(str(path))
    assert [c.verify_ssl for c in configs] == [str(bundle), False, False, True]
    assert all(c.ssl and c.port == 443 for c in configs)
    with pytest.raises(ConfigError, match="verify_ssl: no CA bundle file"):
        parse_device({"host": "cam", "verify_ssl": "nowhere.pem"})


def test_device_sensors_pass_the_ca_bundle_to_the_session(tmp_path):
    from pyhik.sensors.entities import DeviceSensors
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for verify in (str(bundle), False, True):
        hub = DeviceSensors.from_config({"host": "https://cam"}, verify_ssl=verify)
        assert hub.device.client.session.verify == verify
        assert hub.device.client.base_url == "https://cam:443"
        hub.close()
    hub = DeviceSensors.from_config({"host": "cam", "verify_ssl": str(bundle)})
    assert hub.device.client.session.verify == str(bundle)
    hub.close()


# -- 7. small ones -----------------------------------------------------------------------
@pytest.mark.parametrize("raw, ssl, port", [
    ({"ssl": "false", "port": "18080"}, False, 18080), ({"ssl": "True", "port": 8443}, True, 8443),
    ({"ssl": False, "port": 18080}, False, 18080), ({"ssl": True}, True, 443)])
def test_ssl_and_port_quoted_or_not(raw, ssl, port):
    config = parse_device({"host": "cam", **raw})
    assert (config.ssl, config.port) == (ssl, port)


def test_the_emulator_banner_shows_the_default_password():
    proc = subprocess.Popen([sys.executable, "-m", "pyhik", "emulate", "--heartbeat", "0"],
                            cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        banner = proc.stdout.readline() + proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=5)
    assert "user 'admin', password '12345' (the default)" in banner


@pytest.mark.parametrize("argv", [["--nvr", "0"], ["--demo-events", "0"],
                                  ["--host", "256.1.1.1"]])
def test_emulate_errors_start_with_pyhik_emulate(argv, capsys):
    assert main(["emulate", *argv]) in (1, 2)
    [line] = stderr_lines(capsys.readouterr().err)
    assert line.startswith("pyhik emulate: ")


def test_demo_ends_quietly_when_its_reader_goes_away():
    """``pyhik demo | head -3``: a prompt, quiet exit, not the whole 40 s script."""
    proc = subprocess.Popen([sys.executable, "-m", "pyhik", "demo"], cwd=str(ROOT),
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(3):
            proc.stdout.readline()
        proc.stdout.close()
        assert proc.wait(timeout=20) == 0  # the whole script takes about 40 s
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err and "Broken pipe" not in err


def test_demo_says_what_it_waits_for(capsys):
    assert run_demo(Printer(False), time_scale=0.05) == 0
    out = capsys.readouterr().out
    waiting = re.search(r"^Waiting for (.*) to turn off: the delayed ones", out, re.M)
    assert waiting and "binary_sensor.front_porch_motion" in waiting.group(1)
    assert out.index("Waiting for") < out.index("All sensors are off again")


class Lines(Printer):
    def __init__(self, as_json):
        super().__init__(as_json)
        self.lines = []
        self.cond = threading.Condition()

    def line(self, text):
        with self.cond:
            self.lines.append(text)
            self.cond.notify_all()

    def wait_for(self, pattern, timeout=10):
        with self.cond:
            return self.cond.wait_for(lambda: any(re.search(pattern, x) for x in self.lines),
                                      timeout)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_lost_and_restored_stream_is_reported_once(emulators, caplog, as_json):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    config = parse_device({"host": "127.0.0.1", "port": emu.port, "username": "admin",
                           "password": PASSWORD})
    printer = Lines(as_json)
    caplog.set_level(logging.INFO, logger="pyhik")
    hubs = start_hubs([config], printer, first_connect_s=10, **fast_options())
    try:
        assert emu.wait_for_streams(1)
        emu.drop()
        assert emu.wait_for_streams(2, timeout=10)
        emu.push("VMD", "active")  # a marker after the restore: its change comes after it
        assert printer.wait_for(r'"state": "on"|front_porch_motion\s+on$')
    finally:
        stop_hubs(hubs)
    said = [x for x in printer.lines if "alert stream" in x]
    logged = [r for r in caplog.records if "alert stream lost" in r.getMessage()
              or "alert stream restored" in r.getMessage()]
    if as_json:  # JSON lines are sensors only: the log says it, "restored" below WARNING
        assert said == []
        assert [(r.levelno, "lost" in r.getMessage()) for r in logged] == \
            [(logging.WARNING, True), (logging.INFO, False)]
    else:
        assert len(said) == 3, said
        assert said[0] == "Front Porch: alert stream connected"
        assert re.fullmatch(r"Front Porch: alert stream lost \(.+\), reconnecting", said[1])
        assert said[2] == "Front Porch: alert stream restored"
        assert logged == []
    from pyhik.stream.watcher import CONNECTION_LOGGER
    assert CONNECTION_LOGGER.filters == []  # stop_hubs gives the stream its log lines back


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_check_prints_each_failure_once_on_a_terminal():
    out, err = Terminal(), Terminal()
    assert run_check("127.0.0.1", 9, "admin", None, out=out, errors=err) == 1
    assert out.getvalue().count("no --username/--password") == 1 and err.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()  # piped: the summary line goes to stderr
    assert run_check("127.0.0.1", 9, "admin", None, out=out, errors=err) == 1
    assert err.getvalue().startswith("pyhik check: no --username/--password")
