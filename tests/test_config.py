"""Configuration as the Home Assistant docs write it."""

import textwrap

import pytest
from conftest import DOCS_CAMERA_YAML as CAMERA_YAML
from conftest import DOCS_NVR_YAML as NVR_YAML

from pyhik.errors import ConfigError
from pyhik.sensors.config import SensorOptions, load_file, parse_device, parse_document, split_key


@pytest.fixture
def write(tmp_path):
    def _write(text):
        path = tmp_path / "configuration.yaml"
        path.write_text(textwrap.dedent(text))
        return str(path)
    return _write


def test_docs_camera_example_loads_as_is(write):
    [config] = load_file(write(CAMERA_YAML))
    assert config.host == "192.168.X.X" and config.port == 80 and config.ssl is False
    assert config.username == "user" and config.password == "pass"
    assert config.customize == {"motion": SensorOptions(delay=30),
                                "line_crossing": SensorOptions(ignored=True)}
    assert "pass" not in repr(config)


def test_docs_nvr_example_loads_as_is(write):
    [config] = load_file(write(NVR_YAML))
    assert config.customize["motion_1"].delay == 30
    assert config.customize["field_detection_2"].ignored is True


def test_defaults():
    config = parse_device({"host": "cam"})
    assert (config.port, config.ssl, config.name, config.customize) == (80, False, None, {})


def test_several_devices_and_other_platforms_skipped():
    doc = {"binary_sensor": [{"platform": "template"}, {"platform": "hikvision", "host": "a"},
                             {"platform": "hikvision", "host": "b", "name": "Garage"}]}
    assert [c.host for c in parse_document(doc)] == ["a", "b"]


def test_numbers_as_text_like_home_assistant():
    assert parse_device({"host": "h", "password": 1234}).password == "1234"


@pytest.mark.parametrize("entry, words", [
    ({"host": "h", "customize": {"motion": {"delay": -5}}}, ["customize.motion.delay", ">= 0"]),
    ({"host": "h", "customize": {"motion": {"delay": "soon"}}}, ["delay", "number"]),
    ({"host": "h", "customize": {"motion": {"ignored": "maybe"}}}, ["ignored", "true or false"]),
    ({"host": "h", "customize": {"motoin": {"delay": 1}}}, ["motoin", "line_crossing"]),
    ({"host": "h", "customize": {"motion": {"dealy": 1}}}, ["dealy", "delay, ignored"]),
    ({"host": "h", "hostname": "x"}, ["hostname", "valid keys", "customize"]),
    ({"port": 80}, ["host", "required"]),
    ({"host": "h", "port": 70000}, ["port"]),
    ({"host": "h", "ssl": "maybe"}, ["ssl", "true or false"]),
    ({"host": "h", "platform": "other"}, ["platform"]),
])
def test_bad_values_name_the_key_and_choices(entry, words):
    with pytest.raises(ConfigError) as err:
        parse_device(entry)
    for word in words:
        assert word in str(err.value)


def test_split_key():
    assert split_key("motion")[0].name == "Motion" and split_key("motion")[1] is None
    etype, channel = split_key("field_detection_2")
    assert (etype.name, channel) == ("Field Detection", 2)
    assert split_key("i_o_3")[0].name == "I/O"


def test_file_errors_are_config_errors(write, tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_file(write("binary_sensor: [\n"))
    with pytest.raises(ConfigError, match="no 'platform: hikvision'"):
        load_file(write("binary_sensor:\n  - platform: template\n"))


def test_home_assistant_tags_secret_include_env_var(tmp_path, monkeypatch):
    (tmp_path / "secrets.yaml").write_text("hik_password: s3cret\n")
    (tmp_path / "binary_sensors.yaml").write_text(
        "- platform: hikvision\n  host: !env_var PYHIK_TEST_HOST 10.0.0.9\n"
        "  username: admin\n  password: !secret hik_password\n")
    (tmp_path / "configuration.yaml").write_text(
        "homeassistant:\n  name: Home\n"
        "automation: !include_dir_merge_list automations/\n"
        "binary_sensor: !include binary_sensors.yaml\n")
    monkeypatch.delenv("PYHIK_TEST_HOST", raising=False)
    [config] = load_file(str(tmp_path / "configuration.yaml"))
    assert (config.host, config.password) == ("10.0.0.9", "s3cret")
    monkeypatch.setenv("PYHIK_TEST_HOST", "cam.local")
    assert load_file(str(tmp_path / "configuration.yaml"))[0].host == "cam.local"


def test_missing_secret_is_a_config_error(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "binary_sensor:\n  - platform: hikvision\n    host: h\n    password: !secret nope\n")
    with pytest.raises(ConfigError, match="secrets.yaml"):
        load_file(str(tmp_path / "c.yaml"))
    (tmp_path / "secrets.yaml").write_text("other: x\n")
    with pytest.raises(ConfigError, match="!secret nope: not found"):
        load_file(str(tmp_path / "c.yaml"))
