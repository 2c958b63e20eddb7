"""The MQTT edge: paho-mqtt 2.x behind a small asyncio-friendly class.

paho runs its network loop on its own thread; incoming messages cross into asyncio in one
line (``loop.call_soon_threadsafe``) and nothing else happens on paho's thread. The client
reconnects by itself with backoff; QoS 1 messages published while the broker is away are
queued by paho and sent on reconnect.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.config import MqttConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


class MqttBus:
    """One broker connection.

    ``subscriptions`` are (re)made on every connect; ``on_connect_publish`` are (topic, payload,
    retain) published on every connect (e.g. ``availability: online``). Incoming messages land
    in ``self.messages``, an asyncio queue, in arrival order.
    """

    def __init__(self, config: MqttConfig, client_id: str, *, will: Will | None = None,
                 subscriptions: tuple[tuple[str, int], ...] = (),
                 on_connect_publish: tuple[tuple[str, bytes, bool], ...] = (),
                 clean_session: bool = True) -> None:
        self.config = config
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._subscriptions = subscriptions
        self._on_connect_publish = on_connect_publish
        self._connected = threading.Event()
        self._listeners: list[Callable[[bool], None]] = []
        self._closing = False
        self._awaiting_ack: dict[int, Callable[[], None]] = {}
        self._acks: collections.deque[int] = collections.deque()  # acknowledged mids, paho thread -> loop
        self._acks_due = False  # a hand-off of _acks to the loop is scheduled
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean_session, protocol=mqtt.MQTTv311)
        if config.username:
            client.username_pw_set(config.username, config.password.get_secret_value() or None)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.max_queued_messages_set(0)  # unbounded: never drop a QoS 1 message while away
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once even if the broker is away."""
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self._client.loop_start()

    async def wait_connected(self, timeout: float) -> bool:
        return await asyncio.to_thread(self._connected.wait, timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def on_connection_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(connected)`` on the event loop whenever the connection comes or goes."""
        self._listeners.append(listener)

    async def stop(self, final: tuple[str, bytes, bool] | None = None) -> None:
        """Publish ``final`` (waiting briefly for it to leave), then disconnect cleanly."""
        if final is not None and self.connected:
            info = self._client.publish(final[0], final[1], qos=1, retain=final[2])
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None) -> None:
        """Queue a message; paho delivers it now or after the next reconnect (QoS >= 1).

        ``on_ack`` runs on the event loop once the broker has acknowledged it (QoS 1). Call this
        from the event loop thread only when ``on_ack`` is given.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("MQTT publish to %s failed: %s", topic, mqtt.error_string(info.rc))
        elif on_ack is not None:
            # registered before paho's ack can be handled: _acked runs on this same loop, later
            self._awaiting_ack[info.mid] = on_ack

    # --- paho callbacks (paho's thread) -----------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.config.url, reason)
            return
        for topic, qos in self._subscriptions:
            client.subscribe(topic, qos=qos)
        for topic, payload, retain in self._on_connect_publish:
            client.publish(topic, payload, qos=1, retain=retain)
        self._connected.set()
        log.info("MQTT connected to %s", self.config.url)
        self._notify(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing:
            log.warning("MQTT lost the broker at %s (%s); reconnecting", self.config.url, reason)
            self._notify(False)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), bool(msg.retain))
        self._loop.call_soon_threadsafe(self.messages.put_nowait, message)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object,
                    properties: object) -> None:
        # paho may hold its own locks here: hand over to the loop and return. Acks arriving
        # together cross in one hand-off (one wake-up of the loop, not one per message).
        self._acks.append(mid)
        if not self._acks_due:
            self._acks_due = True
            self._loop.call_soon_threadsafe(self._acked)

    def _acked(self) -> None:
        self._acks_due = False
        while self._acks:
            callback = self._awaiting_ack.pop(self._acks.popleft(), None)
            if callback is not None:
                callback()

    def _notify(self, connected: bool) -> None:
        for listener in self._listeners:
            self._loop.call_soon_threadsafe(listener, connected)
