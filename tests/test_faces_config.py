"""Config values read as Home Assistant's validators read them; one check of verify_ssl."""

import argparse

import pytest

from pyhik.cli.options import verify_from_args
from pyhik.errors import ConfigError
from pyhik.sensors.config import parse_device


def test_delay_as_text_is_a_number():
    config = parse_device({"host": "cam", "customize": {"motion": {"delay": "30"}}})
    assert config.customize["motion"].delay == 30
    with pytest.raises(ConfigError, match="delay"):
        parse_device({"host": "cam", "customize": {"motion": {"delay": "soon"}}})


@pytest.mark.parametrize("word, value", [("yes", True), ("no", False), ("on", True),
                                         ("off", False), (1, True), (0, False), ("1", True),
                                         ("0", False), ("True", True)])
def test_booleans_as_cv_boolean_reads_them(word, value):
    config = parse_device({"host": "cam", "ssl": word, "verify_ssl": word,
                           "customize": {"motion": {"ignored": word}}})
    assert (config.ssl, config.verify_ssl, config.customize["motion"].ignored) == (value,) * 3
    assert config.port == (443 if value else 80)


def test_verify_ssl_accepts_a_ca_folder_everywhere(tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    assert parse_device({"host": "cam", "verify_ssl": str(folder)}).verify_ssl == str(folder)
    assert parse_device({"host": "cam", "verify_ssl": "certs"},
                        base_dir=str(tmp_path)).verify_ssl == str(folder)
    args = argparse.Namespace(no_verify_ssl=False, ca_file=str(folder))
    assert verify_from_args(args) == str(folder)
    with pytest.raises(ConfigError, match="no CA bundle"):
        parse_device({"host": "cam", "verify_ssl": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="--ca-file"):
        verify_from_args(argparse.Namespace(no_verify_ssl=False, ca_file=str(tmp_path / "x")))


def test_parse_device_reads_the_host_with_split_host():
    assert parse_device({"host": "https://cam:8443"}).port == 8443
    assert parse_device({"host": "[::1]:81", "port": 80}).port == 81
    with pytest.raises(ConfigError, match="says http, but ssl is on"):
        parse_device({"host": "http://cam", "ssl": "yes"})
