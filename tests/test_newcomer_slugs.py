"""Entity ids for names in any script: Home Assistant's slugify, character for character."""

import logging

import pytest
from conftest import fast_options
from slugify import slugify as python_slugify

from pyhik.cli import console
from pyhik.emulator import TriggerSpec
from pyhik.protocol import events
from pyhik.sensors.entities import DeviceSensors, entity_id_of, entity_slug

PASSWORD = "S3cret!"


def home_assistant_slugify(text):
    """homeassistant.util.slugify as Home Assistant writes it (python-slugify, "_",
    "unknown" for a name with nothing left)."""
    if text == "" or text is None:
        return ""
    slug = python_slugify(text, separator="_")
    return "unknown" if slug == "" else slug


NAMES = [
    ("Камера Двор", "kamera_dvor"),          # Cyrillic
    ("Κάμερα Αυλή", "kamera_aule"),          # Greek
    ("前门", "qian_men"),                    # CJK
    ("Gärten Straße Öl", "garten_strasse_ol"),  # German: ä -> a (not ae), ß -> ss
    ("Café Entrée Noël", "cafe_entree_noel"),   # French accents
    ("🎥 Hof 🚪", "hof"),                    # emoji dropped
    ("🎥", "unknown"),                       # nothing left: Home Assistant says unknown
    ("Gate 1,000", "gate_1000"),
    ("Bob's I/O", "bob_s_i_o"),
]


@pytest.mark.parametrize("name, slug", NAMES)
def test_entity_slug_is_home_assistants(name, slug):
    assert entity_slug(name) == slug == home_assistant_slugify(name)


@pytest.mark.parametrize("name, slug", NAMES[:6])
def test_entity_ids_of_named_sensors(name, slug):
    assert entity_id_of(f"{name} Motion") == f"binary_sensor.{slug}_motion"


def test_event_type_slugs_and_customize_keys_use_the_same_slugify():
    for etype in events.EVENT_TYPES:
        assert etype.slug == home_assistant_slugify(etype.name)
    assert events.slugify("I/O") == "i_o" and events.slugify("🎥") == ""


def test_a_cyrillic_camera_keeps_its_name_in_the_entity_id(emulators):
    emu = emulators("Камера Двор", password=PASSWORD, triggers=[TriggerSpec("VMD", channel=1)])
    hub = DeviceSensors.from_config({"host": "127.0.0.1", "port": emu.port,
                                     "username": "admin", "password": PASSWORD},
                                    **fast_options())
    try:
        hub.setup()
        assert [s.entity_id for s in hub.sensors] == ["binary_sensor.kamera_dvor_motion"]
        assert hub.sensors[0].name == "Камера Двор Motion"
    finally:
        hub.close()


def test_two_names_with_one_slug_share_an_id_and_watch_warns(emulators, caplog):
    """Home Assistant would append _2 to the second entity it registers; pyhik makes ids
    per device, so it keeps both as they are and says which name to change."""
    assert entity_slug("Café") == entity_slug("Cafe") == "cafe"
    first = emulators("Café", password=PASSWORD, triggers=[TriggerSpec("VMD", channel=1)])
    second = emulators("Cafe", password=PASSWORD, triggers=[TriggerSpec("VMD", channel=1)])
    hubs = [DeviceSensors.from_config({"host": "127.0.0.1", "port": emu.port,
                                       "username": "admin", "password": PASSWORD},
                                      **fast_options()) for emu in (first, second)]
    try:
        for hub in hubs:
            hub.setup()
        assert [h.sensors[0].entity_id for h in hubs] == ["binary_sensor.cafe_motion"] * 2
        with caplog.at_level(logging.WARNING, logger="pyhik.cli.console"):
            console._warn_shared_entity_ids(hubs)
        assert "binary_sensor.cafe_motion" in caplog.text and "'name'" in caplog.text
    finally:
        for hub in hubs:
            hub.close()
