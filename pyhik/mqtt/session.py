"""One broker session over paho-mqtt: connect, Last Will, reconnect with backoff, publish.

Every connection attempt uses a fresh paho client. Messages are published only while
connected and a dead connection's client is thrown away with whatever it still held, so
paho's offline queue can never send an old state after a newer one: the bridge publishes
its current view again on every connect. paho callbacks are guarded: one that raises is
logged and the network loop goes on.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any, Callable, Dict, Iterable, Optional, Protocol, Sequence, Tuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MessageState, MQTTErrorCode

from pyhik.stream.recovery import Backoff

from .broker import Broker, BrokerError
from .topics import QOS

_LOGGER = logging.getLogger(__name__)

KEEPALIVE_S = 15
CONNECT_TIMEOUT_S = 5.0
MAX_INFLIGHT = 20
"""Unacknowledged QoS 1 messages on the wire; more wait in paho's queue (pacing)."""
RAPID_CLOSE_S = 5.0
RAPID_CLOSES = 3
"""Connections closed by the broker this soon, this many times in a row, each reconnect
accepted at once: another client with the same id (each kicks the other off)."""
TAKEOVER_HOLD_S = 90.0
"""While taken over, a connection that holds this long means the other client is gone."""
TAKEOVER_LOG_EVERY_S = 60.0
_REFUSED_FOR_GOOD = ("bad user name or password", "not authorized", "client identifier",
                     "banned", "bad authentication")


def default_backoff() -> Backoff:
    """First retry within 1 s, capped at 8 s so a returning broker is served quickly."""
    return Backoff(0.5, 8.0, jitter=0.5)


def takeover_backoff() -> Backoff:
    """Between takeovers by a client with the same id: slower, capped at 30 s (each
    connect re-publishes the whole view)."""
    return Backoff(1.0, 30.0, jitter=0.5)


class Handler(Protocol):
    """What the session tells its owner (called on paho's network thread)."""

    def on_connected(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_message(self, topic: str, payload: bytes, retained: bool) -> None: ...
    def on_acknowledged(self, mid: int) -> None: ...
    def on_subscribed(self, mid: int) -> None: ...


def _guarded(name: str, function: Callable[..., None]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        try:
            function(*args)
        except Exception:
            _LOGGER.exception("MQTT %s handler raised; the connection goes on", name)
    return call


class Session:
    """Keeps one connection to the broker up until :meth:`stop`."""

    def __init__(self, broker: Broker, client_id: str, will: Tuple[str, str], handler: Handler,
                 *, tls_ca: Optional[str] = None, backoff: Optional[Backoff] = None,
                 takeover: Optional[Backoff] = None, keepalive_s: int = KEEPALIVE_S,
                 max_inflight: int = MAX_INFLIGHT) -> None:
        self.broker = broker
        self.client_id = client_id
        self.will = will
        self.handler = handler
        self.tls_ca = tls_ca
        self.keepalive_s = keepalive_s
        self.max_inflight = max_inflight
        self._backoff = backoff or default_backoff()
        self._client: Optional[mqtt.Client] = None
        self._connected = False
        self._connected_at = 0.0
        self._ended = threading.Event()
        self._answered = threading.Event()
        """The current client's CONNECT was answered (or its connection ended)."""
        self._stop = threading.Event()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._first = threading.Event()
        self._ever_connected = False
        self._fatal: Optional[str] = None
        self.last_error: Optional[str] = None
        self._lost_logged = False
        self._rapid = 0
        self._taken_over = False
        self._takeover_backoff = takeover or takeover_backoff()
        self._takeover_logged_at: Optional[float] = None
        self.takeovers = 0
        """Connections closed by the broker while another client seems to use our id."""
        self._takeovers_unlogged = 0
        self._acked = threading.Condition()
        self._waiting: Dict[int, bool] = {}

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pyhik-mqtt-session", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout_s: float, cancel: Optional[threading.Event] = None) -> bool:
        """Wait for the first connection; raise :class:`BrokerError` when the broker refused
        the login or TLS, or was not reached within ``timeout_s``. False when ``cancel``
        was set first."""
        deadline = time.monotonic() + timeout_s
        while not self._first.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if cancel is not None and cancel.is_set():
                return False
            if self._fatal or time.monotonic() >= deadline:
                break
        if self._fatal:
            raise BrokerError(self._fatal)
        if not self._ever_connected:
            raise BrokerError(f"cannot reach the broker {self.broker.display} within "
                              f"{timeout_s:g} s: {self.last_error or 'no answer'}")
        return True

    @property
    def connected(self) -> bool:
        return self._connected

    def stop(self, last_words: Sequence[Tuple[str, str]] = (), timeout_s: float = 1.2) -> None:
        """Publish ``last_words`` (retained) ahead of anything still queued and wait up to
        ``timeout_s`` for the broker to acknowledge them; then disconnect cleanly, or, when
        they were not all acknowledged, close the socket without a DISCONNECT so that the
        broker publishes the Last Will. Ends the connection thread."""
        deadline = time.monotonic() + timeout_s
        self._stopping = True
        client = self._client
        if client is not None and self._connected:
            # What is still queued is an older view, obsolete once offline is due: it must
            # not hold the last words back behind it.
            dropped = _make_way(client)
            if dropped:
                _LOGGER.debug("stopping: %d queued messages dropped", dropped)
            mids = [m for m in (self.publish(t, p) for t, p in last_words) if m is not None]
            with self._acked:
                confirmed = self._acked.wait_for(
                    lambda: all(self._waiting.get(m) for m in mids),
                    max(0.0, deadline - time.monotonic()))
            if confirmed and len(mids) == len(last_words):
                client.disconnect()
            else:
                _LOGGER.warning("the broker did not confirm the offline messages in time: "
                                "closing without a clean disconnect, so that it publishes "
                                "the Last Will")
                _abort(client)
            self._ended.wait(max(0.05, deadline + 0.3 - time.monotonic()))
        elif client is not None:
            _abort(client)  # still connecting: do not wait for paho's select to time out
        self._stop.set()
        self._answered.set()
        self._ended.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.05, deadline + 0.3 - time.monotonic()))

    # -- publishing ------------------------------------------------------------------------
    def publish(self, topic: str, payload: str, retain: bool = True) -> Optional[int]:
        """Send now (QoS 1); returns the message id, or None when not connected (nothing
        is queued for later: the caller re-publishes its view on the next connect)."""
        client = self._client
        if client is None or not self._connected:
            return None
        info = client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        if self._stopping:
            with self._acked:
                self._waiting.setdefault(info.mid, False)
        return info.mid

    def subscribe(self, filters: Iterable[str]) -> Optional[int]:
        client = self._client
        if client is None or not self._connected:
            return None
        result, mid = client.subscribe([(f, QOS) for f in filters])
        return mid if result == MQTTErrorCode.MQTT_ERR_SUCCESS else None

    def unsubscribe(self, filters: Iterable[str]) -> None:
        client = self._client
        if client is not None and self._connected:
            client.unsubscribe(list(filters))

    # -- the connection thread -------------------------------------------------------------
    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True,
                             reconnect_on_failure=False)
        client.suppress_exceptions = True
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_inflight_messages_set(self.max_inflight)
        client.will_set(self.will[0], self.will[1], qos=QOS, retain=True)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=self.tls_ca)
        client.on_connect = _guarded("connect", self._on_connect)
        client.on_disconnect = _guarded("disconnect", self._on_disconnect)
        client.on_message = _guarded("message", self._on_message)
        client.on_publish = _guarded("publish", self._on_publish)
        client.on_subscribe = _guarded("subscribe", self._on_subscribe)
        return client

    def _run(self) -> None:
        while not self._stop.is_set():
            self._ended.clear()
            self._answered.clear()
            client = self._new_client()
            self._client = client
            try:
                client.connect(self.broker.host, self.broker.port, self.keepalive_s)
            except ssl.SSLCertVerificationError as err:
                self._failed(f"TLS: the broker's certificate was not accepted "
                             f"({err.verify_message or err})", fatal=True)
            except (OSError, ValueError) as err:
                self._failed(_describe(err))
            else:
                client.loop_start()
                if not self._answered.wait(CONNECT_TIMEOUT_S) and not self._stop.is_set():
                    # paho would wait a whole keepalive for a CONNACK that never comes
                    self._failed(f"no answer to CONNECT within {CONNECT_TIMEOUT_S:g} s")
                    _abort(client)
                    self._ended.set()
                self._ended.wait()
                client.loop_stop()
            self._client = None
            self._connected = False
            if self._stop.is_set() or self._stopping or (self._fatal and not self._ever_connected):
                break
            backoff = self._takeover_backoff if self._taken_over else self._backoff
            self._stop.wait(backoff.next_delay())

    def _failed(self, text: str, fatal: bool = False) -> None:
        """A connect attempt failed (the broker is down, not another client's takeover)."""
        self.last_error = text
        self._rapid, self._taken_over = 0, False
        self._takeover_backoff.reset()
        if fatal and not self._ever_connected:
            self._fatal = text
            self._first.set()
        self._log_lost(text)

    def _log_lost(self, text: str) -> None:
        if self._ever_connected and not self._lost_logged:
            self._lost_logged = True
            _LOGGER.warning("MQTT broker %s unreachable (%s); retrying, devices are still "
                            "watched", self.broker.display, text)

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _properties: Any) -> None:
        if client is not self._client:
            return
        self._answered.set()
        if reason.is_failure:
            text = f"the broker {self.broker.display} refused the connection: {reason}"
            self._failed(text, fatal=any(w in str(reason).lower() for w in _REFUSED_FOR_GOOD))
            _LOGGER.debug(text)
            self._ended.set()  # this client is done, whether or not paho reports a disconnect
            return
        self._connected = True
        self._connected_at = time.monotonic()
        self._backoff.reset()
        if self._lost_logged:
            _LOGGER.warning("MQTT broker %s is back", self.broker.display)
        elif not self._ever_connected:
            _LOGGER.info("connected to the MQTT broker %s as %s", self.broker.display,
                         self.client_id)
        self._lost_logged = False
        self._ever_connected = True
        self.handler.on_connected()
        self._first.set()

    def _on_disconnect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                       _properties: Any) -> None:
        if client is not self._client:
            return
        was_connected, self._connected = self._connected, False
        self._answered.set()
        self._ended.set()
        if not was_connected:
            return
        self.handler.on_disconnected()
        if self._stopping:
            return
        self.last_error = f"connection lost: {reason}"
        now = time.monotonic()
        lasted = now - self._connected_at
        if lasted >= (TAKEOVER_HOLD_S if self._taken_over else RAPID_CLOSE_S):
            self._rapid, self._taken_over = 0, False
            self._takeover_backoff.reset()
        self._rapid += 1
        if self._rapid == 1:
            self._log_lost(self.last_error)
            return
        # a close right after a connect again: no more lost / back lines
        _LOGGER.debug("MQTT connection to %s closed after %.1f s (%s)", self.broker.display,
                      lasted, reason)
        if self._rapid < RAPID_CLOSES:
            return
        # Quiet: one error, then at most one a minute with a count (no lost / back lines).
        self._taken_over = True
        self.takeovers += 1
        self._takeovers_unlogged += 1
        since = None if self._takeover_logged_at is None else now - self._takeover_logged_at
        if since is None or since >= TAKEOVER_LOG_EVERY_S:
            _LOGGER.error("the broker keeps closing the connection right after connect "
                          "(%d times%s): another client uses the same client id %r. Give "
                          "each bridge its own --bridge-id; retrying every %g s at most",
                          self._takeovers_unlogged + RAPID_CLOSES - 1 if since is None
                          else self._takeovers_unlogged,
                          "" if since is None else f" in the last {since:.0f} s",
                          self.client_id, self._takeover_backoff.max_s)
            self._takeover_logged_at = now
            self._takeovers_unlogged = 0

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: Any) -> None:
        if client is self._client:
            self.handler.on_message(message.topic, message.payload, bool(message.retain))

    def _on_publish(self, client: mqtt.Client, _userdata: Any, mid: int, _reason: Any,
                    _properties: Any) -> None:
        if client is not self._client:
            return
        if self._stopping:
            with self._acked:
                self._waiting[mid] = True
                self._acked.notify_all()
        self.handler.on_acknowledged(mid)

    def _on_subscribe(self, client: mqtt.Client, _userdata: Any, mid: int, _reasons: Any,
                      _properties: Any) -> None:
        if client is self._client:
            self.handler.on_subscribed(mid)


def _make_way(client: mqtt.Client) -> int:
    """Forget the messages paho holds back (past the in-flight window, never sent) and
    lift the window, so that what is published next goes out at once.

    paho has no public call for it; without these attributes nothing changes."""
    mutex = getattr(client, "_out_message_mutex", None)
    messages = getattr(client, "_out_messages", None)
    if mutex is None or messages is None or not hasattr(client, "_max_inflight_messages"):
        return 0
    with mutex:
        queued = [mid for mid, m in messages.items()
                  if getattr(m, "state", None) == MessageState.MQTT_MS_QUEUED]
        for mid in queued:
            del messages[mid]
        client._max_inflight_messages = 0  # no limit
    return len(queued)


def _abort(client: mqtt.Client) -> None:
    """Close the connection without a DISCONNECT: the broker then sends the Last Will."""
    sock = client.socket()
    if not isinstance(sock, socket.socket):  # an ssl.SSLSocket is one too
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _describe(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return str(text)


__all__ = ["Session", "Handler", "Broker", "BrokerError", "default_backoff"]
