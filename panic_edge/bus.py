"""The MQTT edge: paho-mqtt 2.x behind a small asyncio-friendly class.

paho runs on the event loop itself (its "external loop" mode, as aiomqtt does): the socket is
watched with ``add_reader`` / ``add_writer``, so a publish queues a packet and the loop writes
every queued packet when the socket is writable, and messages and acknowledgements are read on
the loop. There is no network thread: no thread hop and no wait for the interpreter lock per
message (a paho thread cost the daemon more than its SQLite commits, bench/loop.py). Only the
blocking TCP connect runs in a worker thread. The bus reconnects by itself with backoff (1 s,
doubling to 15 s); QoS 1 messages published while the broker is away are queued by paho and
sent on reconnect.

The daemon speaks MQTT 5 (``mqtt5=True``): commands may carry a response topic and correlation data
(``Message.response_topic``, ``respond``), and invocation messages carry a message expiry
(``publish(expiry=...)``). MQTT 3.1.1 clients (display nodes, Home Assistant's default) talk to the
same broker unchanged: the broker translates, and drops expired messages for them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from panic_edge.broker_setup import login_for
from panic_edge.config import MqttConfig
from panic_edge.errors import ConfigError
from panic_edge.inbox import Inbox, never

log = logging.getLogger(__name__)

RECONNECT_MIN, RECONNECT_MAX = 1.0, 15.0  # seconds between connection attempts
MISC_INTERVAL = 1.0  # seconds between paho's housekeeping calls (keepalive pings, timeouts)
READ_BURST = 256  # packets read per wake-up of the socket before other work runs
DRAIN_TIMEOUT = 5.0  # seconds a clean stop waits for the broker to acknowledge what was published


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None  # MQTT 5: where the sender waits for the answer
    correlation_data: bytes | None = None  # MQTT 5: echoed in the answer


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


def configure(client: mqtt.Client, config: MqttConfig, role: str) -> None:
    """Log-in and TLS for a paho client from [mqtt]: ``role`` (daemon, node, control) picks the table
    of ``credentials_file`` unless a username is set. Raises ConfigError for a missing file or table."""
    login = login_for(config, role)
    if login is not None:
        client.username_pw_set(login.username, login.password or None)
    if config.tls:
        try:
            client.tls_set(ca_certs=_path(config.ca_file), certfile=_path(config.cert_file),
                           keyfile=_path(config.key_file))
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            raise ConfigError(f"cannot set up TLS for {config.url} with [mqtt] ca_file/cert_file/key_file: "
                              f"{err}") from None


def no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Small messages go out at once: with Nagle's algorithm a reply sent right after a PUBACK waits
    for the broker's delayed ACK (40 ms on Linux) before it leaves."""
    if not isinstance(sock, socket.socket):
        return  # a websocket: nothing to tune
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not a TCP socket (a unix socket): nothing to tune


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has more to read now (TLS may hold decrypted bytes the socket no longer shows)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:  # poll, not select: select refuses a descriptor numbered 1024 or more
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # closed under us
        return False


def _path(path: Path | None) -> str | None:
    return str(path) if path is not None else None


class MqttBus:
    """One broker connection, driven by the event loop it was created on.

    ``subscriptions`` are (re)made on every connect; ``on_connect_publish`` are (topic, payload,
    retain) published on every connect (e.g. ``availability: online``). Incoming messages land
    in ``self.messages``, an ``Inbox``: bounded, in arrival order, and, for the topics ``coalesce``
    names (state topics), only the newest message of each.
    """

    def __init__(self, config: MqttConfig, client_id: str, *, will: Will | None = None,
                 subscriptions: tuple[tuple[str, int], ...] = (),
                 on_connect_publish: tuple[tuple[str, bytes, bool], ...] = (),
                 clean_session: bool = True, role: str = "daemon", mqtt5: bool = False,
                 coalesce: Callable[[str], bool] = never,
                 retain_as_published: frozenset[str] = frozenset()) -> None:
        self.config = config
        self._client_id = client_id[:80]
        self.messages = Inbox(coalesce, name=f"MQTT {self._client_id}")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._subscriptions = subscriptions
        # MQTT 5: on these filters a live message keeps the retain flag its sender set, so a
        # subscriber can tell (and clear) what someone left retained at the broker
        self._retain_as_published = retain_as_published if mqtt5 else frozenset()
        self._on_connect_publish = on_connect_publish
        self._connected = threading.Event()
        self._lost = asyncio.Event()
        self._listeners: list[Callable[[bool], None]] = []
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[Any] | None = None
        self._was_connected = False  # the last connection got as far as the broker's CONNACK
        self._awaiting_ack: dict[int, Callable[[], None]] = {}
        # QoS 1 messages not yet acknowledged: paho keeps 20 in flight and queues the rest, so a
        # stop waits for these before it disconnects (else the queue behind the window is dropped)
        self._unacked: set[int] = set()
        self._expiries: dict[int, Properties] = {}
        self._drained = asyncio.Event()
        self._drained.set()
        self.mqtt5 = mqtt5
        if mqtt5:  # a v5 session ends with its connection (no Session Expiry): as clean as 3.1.1's
            assert clean_session, "a persistent MQTT 5 session needs a Session Expiry Interval"
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 clean_session=clean_session, protocol=mqtt.MQTTv311)
        configure(client, config, role)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.max_queued_messages_set(0)  # unbounded: never drop a QoS 1 message while away
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once even if the broker is away."""
        # MQTT 5 starts clean on every connect; 3.1.1 takes paho's default (its own clean_session)
        clean_start: mqtt.CleanStartOption = True if self.mqtt5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive,
                                   clean_start=clean_start)
        self._runner = self._loop.create_task(self._run(), name=f"mqtt {self.config.url}")

    async def wait_connected(self, timeout: float) -> bool:
        return await asyncio.to_thread(self._connected.wait, timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def on_connection_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(connected)`` on the event loop whenever the connection comes or goes."""
        self._listeners.append(listener)

    async def stop(self, final: tuple[str, bytes, bool] | None = None) -> None:
        """Publish ``final``, wait (at most DRAIN_TIMEOUT) until the broker has acknowledged every
        QoS 1 message published so far, then disconnect cleanly. With the broker away it does not
        wait: what was not sent is the caller's to send again (the daemon's durable outbox)."""
        if self.connected:
            if final is not None:
                self.publish(final[0], final[1], qos=1, retain=final[2])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await self._drained.wait()
        self._closing = True
        connecting = self._connecting
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if connecting is not None:  # a connect still in its worker thread: let it end, then close it
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(10):
                    await connecting
        if self._client.socket() is not None:
            self._lost.clear()
            self._client.disconnect()  # queued: the loop writes it, then paho closes the socket
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._lost.wait()

    async def _run(self) -> None:
        """Connect, keep the connection alive, and connect again after losing it."""
        wait = RECONNECT_MIN
        while not self._closing:
            self._lost.clear()
            self._connecting = asyncio.ensure_future(asyncio.to_thread(self._client.reconnect))
            try:
                await asyncio.shield(self._connecting)  # the TCP connect blocks: in a worker thread
            except OSError as err:
                log.debug("MQTT broker %s not reachable: %s", self.config.url, err)
            else:
                while not self._lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(MISC_INTERVAL):
                            await self._lost.wait()
                    if self._client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:  # keepalive pings, timeouts
                        break
            finally:
                self._connecting = None
            if self._was_connected:
                wait = RECONNECT_MIN
            self._was_connected = False
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None, expiry: int | None = None) -> None:
        """Queue a message; the loop sends it now or after the next reconnect (QoS >= 1).

        ``on_ack`` runs on the event loop once the broker has acknowledged it (QoS 1). Call this
        from the event loop thread. ``expiry`` (MQTT 5 only, seconds): the broker drops the message
        once it has waited that long for a subscriber.
        """
        properties = self._expiry(expiry) if expiry and self.mqtt5 else None
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if self._queued(topic, info, qos) and on_ack is not None:
            # registered before its ack can be read: acks are read on this loop, later
            self._awaiting_ack[info.mid] = on_ack

    def _expiry(self, seconds: int) -> Properties:
        """The PUBLISH properties of a message expiry, made once per value (paho only reads them:
        building them anew for every invocation message was a tenth of the loop's time)."""
        found = self._expiries.get(seconds)
        if found is None:
            found = self._expiries[seconds] = Properties(PacketTypes.PUBLISH)
            found.MessageExpiryInterval = seconds
        return found

    def respond(self, topic: str, payload: bytes, correlation_data: bytes | None) -> None:
        """Answer an MQTT 5 request on its response topic, echoing its correlation data (QoS 1)."""
        properties = Properties(PacketTypes.PUBLISH)
        if correlation_data is not None:
            properties.CorrelationData = correlation_data
        info = self._client.publish(topic, payload, qos=1, properties=properties if self.mqtt5 else None)
        self._queued(topic, info, 1)

    def _queued(self, topic: str, info: mqtt.MQTTMessageInfo, qos: int) -> bool:
        """Whether paho took the message (sent, or queued until the broker is back); a QoS 1 one
        is awaited by ``stop``."""
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("MQTT publish to %s failed: %s", topic, mqtt.error_string(info.rc))
            return False
        if qos > 0:
            self._unacked.add(info.mid)
            self._drained.clear()
        return True

    # --- changing what it follows (a node switching networks) --------------------------------

    def subscribe(self, *subscriptions: tuple[str, int]) -> None:
        """Subscribe now (if connected) and on every later connect."""
        self._subscriptions = tuple(dict.fromkeys(self._subscriptions + subscriptions))
        for topic, qos in subscriptions:
            self._subscribe(self._client, topic, qos)  # NO_CONN when away: the next connect makes it

    def _subscribe(self, client: mqtt.Client, topic: str, qos: int) -> None:
        if topic in self._retain_as_published:
            client.subscribe(topic, options=SubscribeOptions(qos=qos, retainAsPublished=True))
        else:
            client.subscribe(topic, qos=qos)

    def unsubscribe(self, *topics: str) -> None:
        """Unsubscribe now and on every later connect (a persistent session keeps it otherwise)."""
        self._subscriptions = tuple(s for s in self._subscriptions if s[0] not in topics)
        if topics:
            self._client.unsubscribe(list(topics))

    def set_on_connect_publish(self, items: tuple[tuple[str, bytes, bool], ...]) -> None:
        """Replace what is published on every connect (a node's status after it switched)."""
        self._on_connect_publish = items

    # --- the socket, on the loop ------------------------------------------------------------

    def _on_loop(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn`` on the loop: now if this is the loop's thread (paho's callbacks normally
        are), else handed over (the connect runs in a worker thread)."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _read(self) -> None:
        """Read what the socket holds, up to READ_BURST packets, before the loop moves on: the
        messages land in the inbox, which keeps only the newest of each state topic, so a flood is
        coalesced as fast as it is read instead of queueing to be handled one by one."""
        for _ in range(READ_BURST):
            if self._client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                return  # paho has dealt with it (a lost connection)
            sock = self._client.socket()
            if sock is None or not _readable(sock):
                return

    def _write(self) -> None:
        self._client.loop_write()

    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        no_delay(client, userdata, sock)
        self._on_loop(self._loop.add_reader, sock, self._read)

    def _on_socket_close(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        self._on_loop(self._forget_socket, sock)

    def _forget_socket(self, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        self._on_loop(self._loop.add_writer, sock, self._write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        self._on_loop(self._loop.remove_writer, sock)

    # --- paho callbacks (on the loop) -------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.config.url, reason)
            return
        self._was_connected = True
        for topic, qos in self._subscriptions:
            self._subscribe(client, topic, qos)
        for topic, payload, retain in self._on_connect_publish:
            client.publish(topic, payload, qos=1, retain=retain)
        self._connected.set()
        log.info("MQTT connected to %s (%s)", self.config.url, self._client_id)
        self._notify(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._on_loop(self._lost.set)
        if was and not self._closing:
            log.warning("MQTT lost the broker at %s (%s); reconnecting", self.config.url, reason)
            self._notify(False)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response = getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        try:
            message = Message(msg.topic, bytes(msg.payload), bool(msg.retain),
                              response if isinstance(response, str) else None,
                              bytes(correlation) if isinstance(correlation, (bytes, bytearray)) else None)
        except UnicodeDecodeError:  # a topic that is not UTF-8 (a broker that let it through)
            log.warning("ignored an MQTT message whose topic is not UTF-8: %r", msg._topic[:80])
            return
        self._on_loop(self.messages.put_nowait, message)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object,
                    properties: object) -> None:
        self._on_loop(self._acked, mid)

    def _acked(self, mid: int) -> None:
        self._unacked.discard(mid)
        if not self._unacked:
            self._drained.set()
        callback = self._awaiting_ack.pop(mid, None)
        if callback is not None:
            callback()

    def _notify(self, connected: bool) -> None:
        for listener in self._listeners:
            self._loop.call_soon_threadsafe(listener, connected)
