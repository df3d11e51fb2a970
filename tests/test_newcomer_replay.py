"""``pyhik replay``: the shipped raw stream, and one line that sums up the skipped parts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamkit import wrap_multipart

import pyhik
from pyhik.cli.main import main

ROOT = Path(pyhik.__file__).resolve().parent.parent
STREAMS = ROOT / "tests" / "fixtures" / "streams"
RAW = STREAMS / "hiksink-cam_alertStream_first40_reframed.bin"
JSONL = STREAMS / "hiksink-cam_alert_sequence.jsonl"
DOCTYPE = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
           b"<EventNotificationAlert><eventType>&lol;</eventType></EventNotificationAlert>")


def replay(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "pyhik", "replay", *map(str, args)],
                          cwd=str(ROOT), env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    return done.returncode, done.stdout, [x for x in done.stderr.splitlines() if x.strip()]


def test_the_raw_fixture_is_the_jsonl_bodies_framed_as_a_device_does():
    bodies = [json.loads(line)["content"].encode("utf-8")
              for line in JSONL.read_text(encoding="utf-8").splitlines()[:40]]
    assert RAW.read_bytes() == wrap_multipart(
        bodies, content_type='application/xml; charset="UTF-8"')


def test_replay_reads_the_raw_fixture():
    code, out, err = replay(RAW)
    assert code == 0 and err == []
    lines = out.splitlines()
    assert len(lines) == 40
    assert lines[0].startswith("2021-07-02T14:25:36+08:00  Video Loss (videoloss)  inactive")
    assert any("Motion (VMD)  active  channel 1" in x for x in lines)
    assert any("Line Crossing (linedetection)  inactive" in x for x in lines)


def test_a_file_without_alerts_is_one_line_with_the_count_and_the_reason():
    """A .jsonl fixture passed by mistake: 770 parts, not 770 warnings."""
    code, out, err = replay(JSONL)
    assert code == 1 and out == ""
    assert len(err) == 1, err[:3]
    assert err[0].startswith(f"pyhik replay: no alert found in {JSONL}: 770 parts skipped (")
    assert "; first: " in err[0] and "(-v shows each)" in err[0]


def test_v_shows_each_skipped_part():
    code, _, err = replay(JSONL, "-v")
    assert code == 1 and len(err) > 770


def test_a_refused_doctype_is_one_line(tmp_path):
    path = tmp_path / "doctype.bin"
    path.write_bytes(wrap_multipart([DOCTYPE]))
    code, _, err = replay(path)
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("pyhik replay: no alert found") and "1 part skipped" in err[0]


def test_alerts_and_skipped_parts_give_the_alerts_and_one_summary_line(tmp_path, capsys):
    path = tmp_path / "mixed.bin"
    path.write_bytes(RAW.read_bytes() + wrap_multipart([b"<Other/>", b"{}", DOCTYPE]))
    assert main(["replay", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 40
    [line] = [x for x in captured.err.splitlines() if x.strip()]
    assert line.startswith("pyhik replay: 3 parts skipped (") and "first: " in line


@pytest.mark.parametrize("argv", [["-v", "replay"], ["replay"]])
def test_replay_v_before_or_after(argv, capsys):
    assert main([*argv, str(RAW), "-v"]) == 0
