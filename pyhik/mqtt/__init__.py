"""``pyhik mqtt``: the docs' binary sensors on an MQTT broker, with Home Assistant discovery.

The bridge watches cameras and NVRs with :class:`pyhik.sensors.entities.DeviceSensors` and publishes
their sensors to a broker, as fixed by the project's MQTT contract (topics, payloads,
discovery, behaviour). Modules, one job each:

- :mod:`~pyhik.mqtt.topics`: topic names and identifiers (pure).
- :mod:`~pyhik.mqtt.payloads`: sensor views and the JSON payloads (pure).
- :mod:`~pyhik.mqtt.discovery`: Home Assistant discovery documents and clean-up (pure).
- :mod:`~pyhik.mqtt.outbox`: the events topic's sequence numbers and bounded backlog (pure).
- :mod:`~pyhik.mqtt.broker`: the ``--broker`` URL (pure).
- :mod:`~pyhik.mqtt.session`: one broker session over paho-mqtt (connect, reconnect, will).
- :mod:`~pyhik.mqtt.bridge`: devices -> sensors -> broker.
- :mod:`~pyhik.cli.mqtt`: the ``pyhik mqtt`` command.
- :mod:`~pyhik.cli.mqtt_demo`: ``pyhik demo --mqtt``, the emulated devices through the bridge.

Only :mod:`~pyhik.mqtt.session` (and what imports it) needs paho-mqtt, the ``mqtt`` extra.
"""
