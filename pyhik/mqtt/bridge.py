"""The bridge: devices -> sensors -> broker, as the MQTT contract fixes it.

Every configured device is set up on a thread of its own (retried with backoff while it is
unreachable: one dead site never holds up the others), then its sensors' changes go to
the broker as they happen, in order. On every (re)connect the bridge first learns, once
per run, what it published before (retained discovery under its own ``via_device``), then
publishes its whole current view: discovery, availability, info, every state and
attribute set, and the events not yet acknowledged.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, List, Mapping, Optional, Sequence, Tuple

from pyhik import __version__
from pyhik.errors import AuthenticationError
from pyhik.sensors.config import DeviceConfig
from pyhik.sensors.entities import DeviceSensors, SensorChange
from pyhik.stream.recovery import AUTH_RETRY_S, Backoff

from .broker import Broker
from .discovery import (
    Message,
    Previous,
    bridge_messages,
    cleanup_for_device,
    cleanup_for_removed_device,
    device_messages,
)
from .outbox import MIN_CAPACITY, EventOutbox
from .payloads import DeviceView, attributes_payload, change_view, device_view, info_payload, state_payload
from .session import Session
from .topics import OFFLINE, ONLINE, Topics

_LOGGER = logging.getLogger(__name__)

BIRTH_DELAY_S = (1.0, 5.0)
"""Random wait before re-publishing for a Home Assistant birth (spreads many bridges)."""
START_TIMEOUT_S = 12.0
"""Give up connecting at start after this long: the error comes within 15 s."""
LEARN_TIMEOUT_S = 5.0
"""How long to wait for the retained discovery of a previous run before publishing anyway."""


def has_stable_id(hub: DeviceSensors) -> bool:
    """The device's id is its deviceID, serial or MAC (never the host:port fallback)."""
    info = hub.profile.info
    return info is not None and any((value or "").strip()
                                    for value in (info.device_id, info.serial, info.mac))


class _Device:
    """One configured device and what the bridge knows of it."""

    def __init__(self, config: DeviceConfig, hub: DeviceSensors) -> None:
        self.config = config
        self.hub = hub
        self.ready = False
        self.node = ""
        self.keys: set = set()
        self.removed: set = set()
        self.cleaned = False
        self.thread: Optional[threading.Thread] = None


class Bridge:
    """Publishes the sensors of ``configs`` to one broker until :meth:`stop`."""

    def __init__(self, configs: Sequence[DeviceConfig], broker: Broker, topics: Topics, *,
                 discovery: str = "device", tls_ca: Optional[str] = None,
                 device_options: Optional[Callable[[], Mapping[str, Any]]] = None,
                 backoff: Optional[Backoff] = None, takeover_backoff: Optional[Backoff] = None,
                 setup_backoff: Optional[Callable[[], Backoff]] = None,
                 birth_delay_s: Tuple[float, float] = BIRTH_DELAY_S,
                 events_capacity: int = MIN_CAPACITY,
                 rand: Callable[[float, float], float] = random.uniform) -> None:
        self.topics = topics
        self.mode = discovery
        self.birth_delay_s = birth_delay_s
        self._rand = rand
        self._lock = threading.RLock()
        self._outbox_lock = threading.Lock()
        self._outbox = EventOutbox(events_capacity)
        self._acks: Deque[int] = deque()
        self._setup_backoff = setup_backoff or (lambda: Backoff(2.0, 60.0))
        options = device_options or dict
        self._devices = [_Device(c, DeviceSensors(c, **options())) for c in configs]
        self._previous: Optional[Previous] = None if discovery == "none" else Previous(topics)
        self._learned = discovery == "none"
        self._learn_mid: Optional[int] = None
        self._removed_done = False
        self._birth_timer: Optional[threading.Timer] = None
        self._closing = False
        self._online = False
        """Connected and the backlog reset: changes may go out (set in on_connected)."""
        self._generation = 0
        self._lost_events = 0
        self._stopped = threading.Event()
        self.learn_timeout_s = LEARN_TIMEOUT_S
        self.republished = 0
        """How many times the whole view was published (connects and births)."""
        self.session = Session(broker, topics.client_id, (topics.bridge_availability, OFFLINE),
                               self, tls_ca=tls_ca, backoff=backoff, takeover=takeover_backoff)

    # -- life cycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = START_TIMEOUT_S,
              cancel: Optional[threading.Event] = None) -> "Bridge":
        """Connect (raises :class:`~pyhik.mqtt.broker.BrokerError` on failure), then set up
        and watch every device in the background. With ``cancel`` set while connecting,
        returns without starting the devices (call :meth:`stop` as usual)."""
        self.session.start()
        try:
            if not self.session.wait_connected(timeout_s, cancel):
                return self
        except BaseException:
            self.session.stop()
            raise
        for dev in self._devices:
            dev.thread = threading.Thread(target=self._run_device, args=(dev,), daemon=True,
                                          name=f"pyhik-mqtt-setup-{dev.config.host}")
            dev.thread.start()
        return self

    def stop(self, timeout_s: float = 1.2) -> None:
        """Publish ``offline`` for every device and the bridge, disconnect, stop watching."""
        with self._lock:
            self._closing = True
            if self._birth_timer is not None:
                self._birth_timer.cancel()
            last_words = [(self.topics.availability(d.node), OFFLINE)
                          for d in self._devices if d.ready]
        last_words.append((self.topics.bridge_availability, OFFLINE))
        self._stopped.set()
        closers = [threading.Thread(target=d.hub.close, daemon=True) for d in self._devices]
        for closer in closers:
            closer.start()
        deadline = time.monotonic() + timeout_s
        self.session.stop(last_words, timeout_s)
        for closer in closers:
            closer.join(max(0.0, deadline - time.monotonic()))

    @property
    def devices(self) -> List[DeviceSensors]:
        return [d.hub for d in self._devices]

    def ready_nodes(self) -> List[str]:
        with self._lock:
            return [d.node for d in self._devices if d.ready]

    # -- devices ---------------------------------------------------------------------------
    def _run_device(self, dev: _Device) -> None:
        backoff = self._setup_backoff()
        # as the stream does: 5, 10, 20, 40, then every 60 minutes, clear of the lockout
        auth_backoff = Backoff(AUTH_RETRY_S, 12 * AUTH_RETRY_S, jitter=0.0)
        logged = None
        while not self._stopped.is_set():
            try:
                dev.hub.setup()
                break
            except AuthenticationError as err:
                delay = auth_backoff.next_delay()
                text = f"{err} (tried again after 5, 10, 20, 40, then every 60 minutes)"
            except Exception as err:  # a dead device must not end the bridge
                delay = backoff.next_delay()
                text = f"{err}"
            if text != logged:
                _LOGGER.error("%s: %s; retrying", dev.config.name or dev.config.host, text)
                logged = text
            if self._stopped.wait(delay):
                return
        else:
            return
        if logged:
            _LOGGER.warning("%s: set up after all", dev.hub.name)
        if not has_stable_id(dev.hub):
            _LOGGER.error("%s (%s): the device reports no deviceID, serial number or MAC "
                          "address, so it has no stable id to name its topics: not bridged",
                          dev.hub.name, dev.config.host)
            return
        dev.hub.add_listener(lambda change: self._on_change(dev, change))
        dev.hub.add_connection_listener(lambda up: self._on_stream(dev, up))
        with self._lock:
            if self._closing:
                return
            view = device_view(dev.hub)
            twin = next((d for d in self._devices if d.ready and d.node == view.node), None)
            if twin is not None:
                _LOGGER.error("%s and %s are the same device (%s): watching it once",
                              twin.config.host, dev.config.host, view.node)
                return
            dev.node, dev.keys, dev.ready = view.node, {s.key for s in view.sensors}, True
            if self._online and self._learned:
                self._publish_device(dev, view)
                self._publish(self.topics.bridge_info, self._info())
                self._cleanup_removed_devices()
        dev.hub.start()

    def _on_change(self, dev: _Device, change: SensorChange) -> None:
        with self._lock:
            if self._closing:
                return
            view = change_view(change, dev.hub.profile.is_nvr)
            with self._outbox_lock:
                self._outbox.add(self.topics.events(dev.node), view, change.time)
                lost = self._outbox.take_lost()
            if lost and not self._lost_events:  # once per outage; the count on reconnect
                _LOGGER.warning("events backlog full (%d): dropping the oldest until the "
                                "broker is back", self._outbox.capacity)
            self._lost_events += lost
            new = view.key not in dev.keys
            dev.keys.add(view.key)
            if not self._online:
                return  # the whole view goes out again on the next connect
            if new and self._learned:
                self._publish_many(device_messages(self.topics, device_view(dev.hub),
                                                   __version__, self.mode, dev.removed))
            self._publish(self.topics.state(dev.node, view.key), state_payload(view))
            self._publish(self.topics.attributes(dev.node, view.key), attributes_payload(view))
            self._flush_events()

    def _on_stream(self, dev: _Device, up: bool) -> None:
        with self._lock:
            if not self._closing and dev.ready:
                self._publish(self.topics.availability(dev.node), ONLINE if up else OFFLINE)

    # -- publishing (callers hold self._lock) ----------------------------------------------
    def _publish(self, topic: str, payload: str, retain: bool = True) -> Optional[int]:
        return self.session.publish(topic, payload, retain)

    def _publish_many(self, messages: Sequence[Message]) -> None:
        for topic, payload in messages:
            self._publish(topic, payload)

    def _info(self) -> str:
        return info_payload(__version__, self.topics.bridge_id,
                            [d.node for d in self._devices if d.ready])

    def _publish_device(self, dev: _Device, view: DeviceView) -> None:
        if not dev.cleaned and self._previous is not None:
            prev = self._previous.devices.get(view.node)
            messages, dev.removed = cleanup_for_device(self.topics, prev, dev.keys, self.mode)
            if messages:
                _LOGGER.info("%s: removing %d retained topics of sensors gone since the last "
                             "run", view.name, len(messages))
            self._publish_many(messages)
        dev.cleaned = True
        self._publish_many(device_messages(self.topics, view, __version__, self.mode,
                                           dev.removed))
        self._publish(self.topics.availability(view.node), ONLINE if dev.hub.connected else OFFLINE)
        for sensor in view.sensors:
            self._publish(self.topics.state(view.node, sensor.key), state_payload(sensor))
            self._publish(self.topics.attributes(view.node, sensor.key),
                          attributes_payload(sensor))

    def _publish_all(self) -> None:
        self.republished += 1
        self._publish(self.topics.bridge_availability, ONLINE)
        self._publish_many(bridge_messages(self.topics, __version__, self.mode))
        self._publish(self.topics.bridge_info, self._info())
        for dev in self._devices:
            if dev.ready:
                self._publish_device(dev, device_view(dev.hub))
        self._cleanup_removed_devices()
        self._flush_events()

    def _cleanup_removed_devices(self) -> None:
        if self._removed_done or self._previous is None:
            return
        if not all(d.ready for d in self._devices):
            return  # an unreachable device may be one the broker still holds
        self._removed_done = True
        current = {d.node for d in self._devices}
        for node, prev in sorted(self._previous.devices.items()):
            if node not in current:
                _LOGGER.info("removing device %s: no longer in the configuration", node)
                self._publish_many(cleanup_for_removed_device(self.topics, prev))

    def _flush_events(self) -> None:
        with self._outbox_lock:
            while self._acks:
                self._outbox.acknowledged(self._acks.popleft())
            pending = self._outbox.unsent()
        for entry in pending:
            mid = self._publish(entry.topic, entry.payload, retain=False)
            if mid is None:
                return
            with self._outbox_lock:
                self._outbox.mark_sent(entry, mid)

    # -- session events (paho's network thread) --------------------------------------------
    def on_connected(self) -> None:
        with self._lock:
            with self._outbox_lock:
                while self._acks:  # the last connection's, not yet taken in
                    self._outbox.acknowledged(self._acks.popleft())
                self._outbox.new_connection()
            if self._lost_events:
                _LOGGER.warning("%d events were dropped while the broker was away (backlog "
                                "full): their seq numbers are missing", self._lost_events)
                self._lost_events = 0
            # Only now may changes go out: before, a new event would overtake the backlog.
            self._online = True
            self._generation += 1
            self.session.subscribe([self.topics.ha_status])
            if self._closing:
                return
            if self._learned:
                self._publish_all()
                return
            self._publish(self.topics.bridge_availability, ONLINE)
            self._learn_mid = self.session.subscribe(
                [self.topics.device_config_filter, self.topics.entity_config_filter,
                 self.topics.bridge_info])
            timer = threading.Timer(self.learn_timeout_s, self._learning_overdue,
                                    args=(self._generation,))
            timer.daemon = True
            timer.start()

    def _learning_overdue(self, generation: int) -> None:
        with self._lock:
            if (not self._learned and self._online and not self._closing
                    and generation == self._generation):  # not an earlier connection's timer
                _LOGGER.warning("could not read back the retained discovery (no answer in "
                                "%g s; a broker ACL?): sensors removed since the last run stay "
                                "in Home Assistant", self.learn_timeout_s)
                self._end_learning()

    def on_disconnected(self) -> None:
        with self._lock:
            self._online = False
            self._learn_mid = None

    def on_subscribed(self, mid: int) -> None:
        with self._lock:
            if mid == self._learn_mid and not self._learned:
                # Our own info comes back after every retained message of the filters.
                self._publish(self.topics.bridge_info, self._info())

    def on_acknowledged(self, mid: int) -> None:
        self._acks.append(mid)  # no lock here: paho holds its message lock while calling

    def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self.topics.ha_status:
            if payload.strip() == b"online" and not retained:  # a retained one is no news
                self._on_birth()
            return
        with self._lock:
            if self._learned or self._previous is None:
                return
            if topic == self.topics.bridge_info:
                if not retained:
                    self._end_learning()
                return
            if retained:
                self._previous.feed(topic, payload)

    def _end_learning(self) -> None:
        self._learned = True
        self.session.unsubscribe([self.topics.device_config_filter,
                                  self.topics.entity_config_filter, self.topics.bridge_info])
        assert self._previous is not None
        _LOGGER.debug("learned %d devices published before", len(self._previous.devices))
        if not self._closing:
            self._publish_all()

    # -- Home Assistant birth ----------------------------------------------------------------
    def _on_birth(self) -> None:
        with self._lock:
            if self._closing or self._birth_timer is not None:
                return  # one re-publish per burst of births
            delay = self._rand(*self.birth_delay_s)
            _LOGGER.info("Home Assistant started: publishing discovery and state in %.1f s",
                         delay)
            self._birth_timer = threading.Timer(delay, self._birth_republish)
            self._birth_timer.daemon = True
            self._birth_timer.start()

    def _birth_republish(self) -> None:
        with self._lock:
            self._birth_timer = None
            if not self._closing and self._online and self._learned:
                self._publish_all()


__all__ = ["Bridge", "BIRTH_DELAY_S", "START_TIMEOUT_S"]
