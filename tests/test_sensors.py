"""Binary sensors as the Home Assistant docs describe them, against the emulator."""

import logging
import time
from datetime import datetime

import pytest
import yaml
from conftest import DOCS_CAMERA_YAML, Recorder, fast_options

from pyhik.emulator import TriggerSpec
from pyhik.errors import AuthenticationError, ConfigError
from pyhik.protocol import events
from pyhik.sensors.entities import DeviceSensors, SensorChange, entity_slug

PASSWORD = "S3cret!"
CAMERA_TRIGGERS = [TriggerSpec("VMD", channel=1), TriggerSpec("linedetection", channel=1)]
NVR_TRIGGERS = [TriggerSpec(event, channel=ch) for ch in (1, 2)
                for event in ("VMD", "linedetection", "fielddetection")]

# Every binary-sensor device class Home Assistant knows.
HA_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window"}


def entry(emu, **extra):
    config = {"host": "127.0.0.1", "port": emu.port, "username": "admin", "password": PASSWORD}
    config.update(extra)
    return config


@pytest.fixture
def hubs():
    """Factory: DeviceSensors set up (not started) on an emulator; all closed at the end."""
    made = []

    def make(emu, *, start=False, **extra):
        hub = DeviceSensors.from_config(entry(emu, **extra), **fast_options())
        made.append(hub)
        hub.setup()
        if start:
            recorder = Recorder()
            hub.add_listener(recorder)
            hub.start()
            assert emu.wait_for_streams(1)
            return hub, recorder
        return hub
    yield make
    for hub in made:
        hub.close()


def camera(emulators, name="Front Porch", triggers=CAMERA_TRIGGERS, **kwargs):
    return emulators(name, password=PASSWORD, triggers=triggers, **kwargs)


def nvr(emulators, name="Home", triggers=NVR_TRIGGERS, **kwargs):
    return emulators(name, kind="nvr", channels=2, password=PASSWORD, triggers=triggers, **kwargs)


def ids(hub):
    return [s.entity_id for s in hub.sensors]


def changes(recorder):
    return [(c.sensor.entity_id, c.new) for c in recorder.items]


def marker(emu, recorder, event="fielddetection", channel=1):
    """Push one more event and wait for its change: everything pushed before is applied."""
    count = len(recorder.items)
    emu.push(event, "active", channel)
    assert recorder.wait_count(count + 1)


# -- naming ------------------------------------------------------------------------------
def test_docs_camera_example(emulators, hubs):
    hub = hubs(camera(emulators))
    assert ids(hub) == ["binary_sensor.front_porch_motion",
                        "binary_sensor.front_porch_line_crossing"]
    assert [s.name for s in hub.sensors] == ["Front Porch Motion", "Front Porch Line Crossing"]
    assert [(s.event, s.channel) for s in hub.sensors] == [("VMD", 1), ("linedetection", 1)]
    assert not hub.profile.is_nvr


def test_docs_nvr_example(emulators, hubs):
    hub = hubs(nvr(emulators, triggers=[TriggerSpec(e, channel=ch) for ch in (1, 2)
                                        for e in ("VMD", "linedetection")]))
    assert sorted(ids(hub)) == ["binary_sensor.home_line_crossing_1",
                                "binary_sensor.home_line_crossing_2",
                                "binary_sensor.home_motion_1", "binary_sensor.home_motion_2"]
    assert hub.sensor("binary_sensor.home_motion_1").name == "Home Motion 1"
    assert hub.sensor("binary_sensor.home_line_crossing_2").channel == 2
    assert hub.profile.is_nvr


def test_name_option_overrides_the_device_name(emulators, hubs):
    hub = hubs(camera(emulators), name="Garage Door")
    assert ids(hub)[0] == "binary_sensor.garage_door_motion"
    assert hub.sensors[0].name == "Garage Door Motion"


def test_accented_names_are_folded_like_home_assistant(emulators, hubs):
    hub = hubs(camera(emulators, name="Café Entrée"))
    assert hub.sensors[0].name == "Café Entrée Motion"
    assert ids(hub) == ["binary_sensor.cafe_entree_motion",
                        "binary_sensor.cafe_entree_line_crossing"]


@pytest.mark.parametrize("name, slug", [
    ("Front Porch Motion", "front_porch_motion"), ("Straße Nord", "strasse_nord"),
    ("Ærø  --  Øst!", "aero_ost"), ("Bob's I/O", "bob_s_i_o"), ("Gate 1,000", "gate_1000"),
    ("前门", "qian_men"), ("🎥", "unknown"), ("  Home  Motion 1 ", "home_motion_1")])
def test_entity_slug(name, slug):
    assert entity_slug(name) == slug


def test_unique_ids_are_stable_across_setups_and_renames(emulators, hubs):
    emu = camera(emulators)
    first = [s.unique_id for s in hubs(emu).sensors]
    second = [s.unique_id for s in hubs(emu, name="Renamed").sensors]
    device_id = hubs(emu).profile.device_id
    assert first == second == [f"{device_id}.Motion.1", f"{device_id}.Line Crossing.1"]
    other = hubs(camera(emulators, name="Back Yard"))
    assert not set(first) & {s.unique_id for s in other.sensors}


def test_the_21_documented_types_have_sensors_with_device_classes(emulators, hubs):
    assert len(events.DOCUMENTED_TYPES) == 21
    device_level = {"diskfull", "diskerror", "nicbroken", "ipconflict", "illaccess",
                    "recordingfailure", "videomismatch"}
    specs = [TriggerSpec(t.code, io_port=1) if t.io
             else TriggerSpec(t.code) if t.code.lower() in device_level
             else TriggerSpec(t.code, channel=1) for t in events.DOCUMENTED_TYPES]
    hub = hubs(camera(emulators, triggers=specs))
    by_name = {s.name: s for s in hub.sensors}
    assert sorted(by_name) == sorted(f"Front Porch {t.name}" for t in events.DOCUMENTED_TYPES)
    assert len(set(ids(hub))) == 21
    for etype in events.DOCUMENTED_TYPES:
        sensor = by_name[f"Front Porch {etype.name}"]
        assert sensor.device_class == etype.device_class
        assert sensor.device_class in HA_DEVICE_CLASSES or etype.name == "I/O"
    assert by_name["Front Porch Motion"].device_class == "motion"
    assert by_name["Front Porch I/O"].entity_id == "binary_sensor.front_porch_i_o"


# -- customize ---------------------------------------------------------------------------
def test_docs_yaml_loads_as_is_and_builds_a_hub():
    [raw] = yaml.safe_load(DOCS_CAMERA_YAML)["binary_sensor"]
    hub = DeviceSensors.from_config(raw)
    try:
        assert hub.config.customize["motion"].delay == 30
        assert hub.config.customize["line_crossing"].ignored is True
        assert (hub.config.host, hub.config.port, hub.config.ssl) == ("192.168.X.X", 80, False)
    finally:
        hub.close()


def test_ignored_sensor_is_not_created_even_by_its_alerts(emulators, hubs):
    emu = camera(emulators, triggers=CAMERA_TRIGGERS + [TriggerSpec("fielddetection", channel=1)])
    hub, recorder = hubs(emu, start=True, customize={"line_crossing": {"ignored": True}})
    assert ids(hub) == ["binary_sensor.front_porch_motion",
                        "binary_sensor.front_porch_field_detection"]
    emu.push("linedetection", "active")
    marker(emu, recorder)
    assert changes(recorder) == [("binary_sensor.front_porch_field_detection", True)]
    assert "binary_sensor.front_porch_line_crossing" not in ids(hub)


def test_delay_keeps_the_sensor_on_after_the_event_ends(emulators, hubs):
    emu = camera(emulators, triggers=CAMERA_TRIGGERS + [TriggerSpec("fielddetection", channel=1)])
    hub, recorder = hubs(emu, start=True, customize={"motion": {"delay": 0.5}})
    motion = hub.sensor("binary_sensor.front_porch_motion")
    assert motion.delay == 0.5 and motion.attributes["delay"] == 0.5
    assert motion.as_dict()["delay"] == 0.5
    assert "delay" not in hub.sensor("binary_sensor.front_porch_line_crossing").attributes
    emu.push("VMD", "active")
    assert recorder.wait_count(1)
    ended = time.monotonic()
    emu.push("VMD", "inactive")
    marker(emu, recorder)
    assert motion.is_on, "the delay keeps it on"
    assert recorder.wait_for(lambda items: ("binary_sensor.front_porch_motion", False)
                             in [(c.sensor.entity_id, c.new) for c in items])
    assert time.monotonic() - ended >= 0.45
    assert not motion.is_on
    assert isinstance(motion.last_tripped_time, datetime)


def test_a_new_trip_inside_the_delay_restarts_the_window(emulators, hubs):
    emu = camera(emulators)
    hub, recorder = hubs(emu, start=True, customize={"motion": {"delay": 0.5}})
    emu.push("VMD", "active")
    assert recorder.wait_count(1)
    emu.push("VMD", "inactive")
    emu.push("VMD", "active")  # inside the window: stays on, no off/on flicker
    ended = time.monotonic()
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert time.monotonic() - ended >= 0.45
    assert changes(recorder) == [("binary_sensor.front_porch_motion", True),
                                 ("binary_sensor.front_porch_motion", False)]
    assert hub.sensors[0].last_tripped_time is not None


def test_nvr_customize_keys_carry_the_channel(emulators, hubs):
    emu = nvr(emulators)
    hub, recorder = hubs(emu, start=True, customize={"motion_1": {"delay": 30},
                                                     "field_detection_2": {"ignored": True}})
    assert "binary_sensor.home_field_detection_2" not in ids(hub)
    assert "binary_sensor.home_field_detection_1" in ids(hub)
    assert hub.sensor("binary_sensor.home_motion_1").attributes["delay"] == 30
    assert hub.sensor("binary_sensor.home_motion_2").delay == 0
    emu.push("fielddetection", "active", 2)
    emu.push("VMD", "active", 2)
    assert recorder.wait_count(1)
    assert changes(recorder) == [("binary_sensor.home_motion_2", True)]
    assert "binary_sensor.home_field_detection_2" not in ids(hub)


def test_customize_without_channel_on_an_nvr_warns(emulators, hubs, caplog):
    with caplog.at_level(logging.WARNING, logger="pyhik.sensors.entities"):
        hub = hubs(nvr(emulators), customize={"motion": {"delay": 5}})
    assert "needs a channel" in caplog.text and "motion_1" in caplog.text
    assert caplog.text.count("'motion'") == 1
    assert all(s.delay == 0 for s in hub.sensors)


@pytest.mark.parametrize("make, key", [(nvr, "motion_3"), (camera, "face_detection"),
                                       (camera, "motion_1")])
def test_customize_matching_no_sensor_warns(emulators, hubs, caplog, make, key):
    with caplog.at_level(logging.WARNING, logger="pyhik.sensors.entities"):
        hubs(make(emulators), customize={key: {"delay": 5}})
    assert f"customize {key!r}" in caplog.text


# -- set-up ------------------------------------------------------------------------------
def test_setup_reads_the_device_once_and_builds_the_sensors_from_that_read(emulators,
                                                                           monkeypatch):
    """Top-down: one deviceInfo and one trigger list, one customize step, and the sensors
    come from what connect() returned (the device's live sensor list is not read back)."""
    emu = nvr(emulators)
    hub = DeviceSensors.from_config(entry(emu, customize={"motion_2": {"ignored": True},
                                                          "motion_1": {"delay": 7}}),
                                    **fast_options())
    try:
        client, device, calls = hub.device.client, hub.device, []
        for name in ("device_info", "triggers"):
            real = getattr(client, name)
            monkeypatch.setattr(client, name, lambda *a, _r=real, _n=name, **k: (
                calls.append(_n), _r(*a, **k))[1])
        configure = device.configure_sensors
        monkeypatch.setattr(device, "configure_sensors",
                            lambda **k: (calls.append("configure"), configure(**k))[1])
        monkeypatch.setattr(device, "sensor_states", lambda: pytest.fail("read back"))
        hub.setup()
        assert calls == ["device_info", "triggers", "configure"]
        assert hub.profile is device.profile and hub.profile.is_nvr
        assert hub.name == "Home"
        assert "binary_sensor.home_motion_2" not in ids(hub)
        assert hub.sensor("binary_sensor.home_motion_1").delay == 7
        assert len(hub.sensors) == len(hub.profile.sensor_states) - 1
    finally:
        hub.close()


# -- sensors from alerts -----------------------------------------------------------------
def test_sensors_created_from_alerts_get_proper_names(emulators, hubs):
    emu = camera(emulators, triggers=[TriggerSpec("VMD", channel=1)])
    hub, recorder = hubs(emu, start=True)
    emu.push("fielddetection", "active")
    assert recorder.wait_count(1)
    change = recorder.items[0]
    assert change.created and change.new
    assert change.sensor.entity_id == "binary_sensor.front_porch_field_detection"
    assert change.sensor.name == "Front Porch Field Detection"
    emu.push("VMD", "active", 2)  # a second video channel on a "camera"
    assert recorder.wait_count(2)
    assert recorder.items[1].sensor.name == "Front Porch Motion 2"
    assert ids(hub) == ["binary_sensor.front_porch_motion",
                        "binary_sensor.front_porch_field_detection",
                        "binary_sensor.front_porch_motion_2"]


def test_nvr_sensors_from_alerts_follow_customize(emulators, hubs):
    emu = nvr(emulators, triggers=[TriggerSpec("VMD", channel=1)])
    hub, recorder = hubs(emu, start=True, customize={"line_crossing_2": {"delay": 0.5}})
    emu.push("linedetection", "active", 2)
    assert recorder.wait_count(1)
    sensor = recorder.items[0].sensor
    assert sensor.entity_id == "binary_sensor.home_line_crossing_2"
    assert sensor.name == "Home Line Crossing 2"
    assert sensor.delay == 0.5 and sensor.customize_key == "line_crossing_2"


# -- listeners, life cycle, several devices ----------------------------------------------
def test_listener_gets_change_objects_and_can_be_removed(emulators, hubs):
    emu = camera(emulators)
    hub, recorder = hubs(emu, start=True)
    other = Recorder()
    hub.add_listener(other)
    emu.push("VMD", "active")
    assert recorder.wait_count(1) and other.wait_count(1)
    change = recorder.items[0]
    assert isinstance(change, SensorChange)
    assert change.sensor.entity_id == "binary_sensor.front_porch_motion"
    assert (change.old, change.new) == (False, True)
    assert change.time.tzinfo is not None
    assert change.as_dict()["state"] == "on"
    hub.remove_listener(other)
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert len(other.items) == 1


def test_start_stop_and_several_devices_in_one_process(emulators, hubs):
    cam, box = camera(emulators), nvr(emulators)
    cam_hub, cam_rec = hubs(cam, start=True)
    nvr_hub, nvr_rec = hubs(box, start=True)
    cam.push("VMD", "active")
    box.push("linedetection", "active", 2)
    assert cam_rec.wait_count(1) and nvr_rec.wait_count(1)
    assert changes(cam_rec) == [("binary_sensor.front_porch_motion", True)]
    assert changes(nvr_rec) == [("binary_sensor.home_line_crossing_2", True)]
    cam_hub.stop()
    assert cam.wait_for_open_streams(0)
    assert box.open_streams == 1 and not cam_hub.connected


def test_kwargs_api(emulators):
    emu = camera(emulators)
    hub = DeviceSensors.from_kwargs(host="127.0.0.1", port=emu.port, username="admin",
                                    password=PASSWORD, name="Side",
                                    customize={"motion": {"delay": 2}},
                                    device_options=fast_options())
    try:
        hub.setup()
        assert ids(hub)[0] == "binary_sensor.side_motion" and hub.sensors[0].delay == 2
    finally:
        hub.close()


def test_wrong_password_raises_and_starts_nothing(emulators):
    emu = camera(emulators)
    hub = DeviceSensors.from_config(dict(entry(emu), password="nope"), **fast_options())
    try:
        with pytest.raises(AuthenticationError, match="wrong user name or password"):
            hub.start()
        assert emu.streams_opened == 0 and not hub.sensors
    finally:
        hub.close()


# -- configuration errors ----------------------------------------------------------------
@pytest.mark.parametrize("bad, words", [
    ({"customize": {"motoin": {"delay": 1}}}, ["motoin", "motion", "line_crossing"]),
    ({"customize": {"motion": {"delay": -1}}}, ["customize.motion.delay", ">= 0"]),
    ({"customize": {"motion": {"delay": float("nan")}}}, ["delay"]),
    ({"customize": {"motion": {"ignored": "maybe"}}}, ["customize.motion.ignored", "true or false"]),
    ({"customize": {"motion": {"hide": True}}}, ["hide", "delay, ignored"]),
    ({"hostname": "x"}, ["hostname", "valid keys", "host, port"]),
    ({"host": None}, ["host", "required"]),
])
def test_config_errors_name_the_key(bad, words):
    config = {"host": "127.0.0.1", "username": "u", "password": "p"}
    config.update(bad)
    if config["host"] is None:
        del config["host"]
    for build in (lambda: DeviceSensors.from_config(config),
                  lambda: DeviceSensors.from_kwargs(**config)):
        with pytest.raises(ConfigError) as err:
            build()
        for word in words:
            assert word in str(err.value)


def test_customize_keys_in_home_assistant_spelling_are_accepted(emulators, hubs):
    emu = camera(emulators, triggers=CAMERA_TRIGGERS + [TriggerSpec("IO", io_port=1)])
    hub = hubs(emu, customize={"i/o": {"delay": 3}, "Line Crossing": {"ignored": True}})
    assert ids(hub) == ["binary_sensor.front_porch_motion", "binary_sensor.front_porch_i_o"]
    assert hub.sensor("binary_sensor.front_porch_i_o").delay == 3
