"""``pyhik check``: diagnosis of a device, against the emulator."""

import io

import pytest

from pyhik.cli.check import run_check
from pyhik.cli.main import main
from pyhik.emulator import TriggerSpec

PASSWORD = "S3cret!"


def check(emu, capsys, *extra, password=PASSWORD):
    """Run ``pyhik check`` in-process; (exit code, stdout, stderr)."""
    args = ["check", "--host", "127.0.0.1", "--port", str(emu.port), "--username", "admin"]
    if password is not None:
        args += ["--password", password]
    code = main(args + list(extra))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("pyhik check: ")
    return lines[0]


def test_all_good_camera(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD)
    code, out, err = check(emu, capsys)
    assert code == 0, out
    assert err == ""
    assert "all is well" in out and "FAIL" not in out and "WARN" not in out
    assert "offers Digest" in out and "alert stream opens" in out
    assert ("3 sensor(s) would be created: binary_sensor.front_porch_motion, "
            "binary_sensor.front_porch_line_crossing, binary_sensor.front_porch_i_o") in out
    assert emu.auth_failures == 0


def test_all_good_nvr_lists_its_sensors_but_not_the_heartbeat(emulators, capsys):
    triggers = [TriggerSpec(e, channel=ch) for ch in (1, 2) for e in ("VMD", "videoloss")]
    emu = emulators("Home", kind="nvr", channels=2, password=PASSWORD, triggers=triggers)
    code, out, _ = check(emu, capsys)
    assert code == 0, out
    assert ("2 sensor(s) would be created: binary_sensor.home_motion_1, "
            "binary_sensor.home_motion_2") in out
    assert "video_loss" not in out


def test_unreachable_device(emulators, capsys):
    gone = emulators("Gone")
    gone.stop()
    code, out, err = check(gone, capsys)
    assert code == 1
    assert "cannot reach" in error_line(err) and "FAIL" in out


def test_wrong_password_is_tried_once(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD)
    code, out, err = check(emu, capsys, password="wrong")
    assert code == 1
    assert "wrong user name or password" in error_line(err)
    assert "login refused" in out
    assert emu.auth_failures == 1


def test_missing_stream_permission_is_named(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD)
    emu.set_stream_status(403)
    code, out, err = check(emu, capsys)
    assert code == 1
    line = error_line(err)
    assert "may not open the alert stream" in line
    assert "'Remote: Notify Surveillance Center/Trigger Alarm Output' permission" in line
    assert "logged in as 'admin'" in out and "FAIL" in out


def test_basic_only_device_gets_the_digest_basic_advice(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD, auth="basic")
    code, out, err = check(emu, capsys)
    assert code == 1, "a warning is not 'all is well'"
    assert "WARN  offers only Basic" in out and "'digest/basic'" in out
    assert "logged in as 'admin'" in out and "alert stream opens" in out
    assert "1 warning(s)" in error_line(err)


def test_triggers_not_notifying_the_center_are_reported(emulators, capsys):
    triggers = [TriggerSpec("VMD", channel=1),
                TriggerSpec("linedetection", channel=1, methods=("record",)),
                TriggerSpec("fielddetection", channel=1, methods=("email", "beep")),
                TriggerSpec("tamperdetection", channel=1, methods=())]
    emu = emulators("Front Porch", password=PASSWORD, triggers=triggers)
    code, out, _ = check(emu, capsys)
    assert code == 1
    assert "1 sensor(s) would be created: binary_sensor.front_porch_motion" in out
    assert "2 trigger(s) are linked, but not to the surveillance center" in out
    assert "Line Crossing 1 (record)" in out and "Field Detection 1 (beep, email)" in out
    assert "Tamper" not in out, "a trigger with no linkage at all is not configured"


def test_no_trigger_notifies_the_center(emulators, capsys):
    emu = emulators("Front Porch", password=PASSWORD,
                    triggers=[TriggerSpec("VMD", channel=1, methods=("record",))])
    code, out, err = check(emu, capsys)
    assert code == 1
    assert "no sensor would be created" in error_line(err)
    assert "Notify Surveillance Center" in out


def test_nvr_without_center_falls_back_with_a_warning(emulators, capsys):
    triggers = [TriggerSpec("VMD", channel=ch, methods=("record",)) for ch in (1, 2)]
    emu = emulators("Home", kind="nvr", channels=2, password=PASSWORD, triggers=triggers)
    code, out, _ = check(emu, capsys)
    assert code == 1
    assert "binary_sensor.home_motion_1, binary_sensor.home_motion_2" in out
    assert "no trigger notifies the surveillance center" in out


def test_password_from_the_environment(emulators, capsys, monkeypatch):
    emu = emulators("Front Porch", password=PASSWORD)
    monkeypatch.setenv("PYHIK_PASSWORD", PASSWORD)
    assert check(emu, capsys, password=None)[0] == 0
    monkeypatch.delenv("PYHIK_PASSWORD")
    code, out, err = check(emu, capsys, password=None)
    assert code == 1 and "PYHIK_PASSWORD" in error_line(err)


@pytest.mark.parametrize("host", [None, "ftp://cam"])
def test_bad_arguments_fail_cleanly(host):
    out, err = io.StringIO(), io.StringIO()
    assert run_check(host, None, "admin", "pw", out=out, errors=err) == 1
    assert err.getvalue().startswith("pyhik check: ") and err.getvalue().count("\n") == 1
