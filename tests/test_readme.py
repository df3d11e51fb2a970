"""README.rst stays true to the code: the event table and the quick-start commands."""

from pathlib import Path

from pyhik.protocol import events

README = (Path(__file__).resolve().parent.parent / "README.rst").read_text(encoding="utf-8")


def table_rows():
    block = README.split(".. BEGIN EVENT TABLE")[1].split(".. END EVENT TABLE")[0]
    block = block.split("\n", 1)[1]  # the rest of the BEGIN comment line
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("=")]
    return lines[1:]  # minus the header


def test_event_table_matches_events_module():
    rows = table_rows()
    assert len(rows) == len(events.EVENT_TYPES)
    for row, etype in zip(rows, events.EVENT_TYPES):
        cells = [c for c in row.split("  ") if c.strip()]
        code = etype.code + (f" ({', '.join(etype.aliases)})" if etype.aliases else "")
        assert [c.strip() for c in cells[:4]] == [code, etype.name, etype.slug,
                                                   etype.device_class or "—"]
        assert (len(cells) == 5) == etype.documented


def test_all_documented_types_have_a_device_class_entry():
    assert len(events.DOCUMENTED_TYPES) == 21


def test_quick_start_commands():
    quick = README.split("Quick start")[1].split("What it fixes")[0]
    assert "pyhik demo" in quick and "pytest" in quick
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "-m pytest -q" in ci and "-m pytest -q" in quick


def test_readme_names_a_raw_stream_that_replay_reads(capsys):
    import re

    from pyhik.cli.main import main
    named = re.findall(r"pyhik replay (tests/fixtures/streams/\S+\.bin)", README)
    assert named, "README names no shipped raw stream"
    for path in named:
        assert main(["replay", str(Path(__file__).resolve().parent.parent / path)]) == 0
    assert capsys.readouterr().out


def test_readme_tells_the_emulators_login_and_the_start_stream_callbacks():
    from pyhik.emulator.cli import DEFAULT_PASSWORD
    emulate = README.split("``pyhik emulate --camera")[1].split("``pyhik replay")[0]
    assert f"``{DEFAULT_PASSWORD}``" in emulate and "``admin``" in emulate
    assert "pyhik emulate:" in emulate
    dropin = README.split("The drop-in ``HikCamera``")[1].split("Lower level")[0]
    assert "each callback is called once" in dropin and "stream_connected" in dropin


def test_readme_says_v_goes_after_the_subcommand_too():
    assert "``pyhik watch ... -v`` are the same" in README
