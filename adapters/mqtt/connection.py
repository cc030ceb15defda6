"""An MQTT 5 connection over paho-mqtt driven by the asyncio loop, and a session that keeps one up.

``MqttConnection`` is one network connection (single use: connect, publish,
subscribe, close); ``MqttSession`` reconnects with exponential backoff while it runs
and resubscribes each time. Both the adapter and the device helper use them.

Why paho-mqtt directly rather than aiomqtt: aiomqtt drops the MQTT 5 reason code of a
PUBACK (so a publish refused by the broker's ACL, or one that reached no subscriber,
looks delivered), and its per-call bookkeeping scans every pending call on each
publish, which costs about 0.3 s of CPU for 1,000 concurrent publishes. paho also
ignores the broker's Receive Maximum, so the in-flight window is ours anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from adapters.errors import (
    AdapterConnectionError,
    AdapterError,
    AdapterRejectedError,
    AdapterTimeoutError,
)
from vpp.kit.eventloop import cancel_and_wait

log = logging.getLogger(__name__)

# CONNACK reason codes that mean "these credentials or this client may not connect".
_REFUSAL_CODES = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})
NO_MATCHING_SUBSCRIBERS = 0x10


@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to connect. Times in seconds."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    tls_context: ssl.SSLContext | None = None
    # Without TCP_NODELAY, Nagle's algorithm holds a small write behind an
    # unacknowledged one (a PUBACK then a PUBLISH) until the peer's delayed ACK,
    # ~40 ms on Linux, which turns a sub-millisecond QoS 1 round trip into tens of ms.
    tcp_nodelay: bool = True
    connect_timeout_s: float = 5.0
    clean_start: bool = True
    # MQTT 5 session expiry: > 0 keeps the broker-side session (subscriptions and
    # queued QoS 1 messages) that long after a disconnect.
    session_expiry_s: int = 0
    # Our own cap on unacknowledged QoS 1 publishes (the broker's Receive Maximum,
    # if lower, wins).
    max_inflight: int = 1000


@dataclass(frozen=True, slots=True)
class Message:
    """A message the broker delivered to us."""

    topic: str
    payload: bytes
    properties: Properties | None
    dup: bool = False


MessageCallback = Callable[[Message], None]


def new_properties(packet_type: int) -> Properties:
    """Empty MQTT 5 properties for a packet type (``PacketTypes.PUBLISH``, ...)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]


class SharedProperties(Properties):
    """Properties sent with many messages: serialised once (paho packs them for every
    message otherwise, which costs more than the rest of a publish). Set the values
    before the first publish and do not change them afterwards."""

    _packed: bytes | None = None

    def pack(self) -> bytes:
        if self._packed is None:
            object.__setattr__(self, "_packed", super().pack())  # type: ignore[no-untyped-call]
        assert self._packed is not None
        return self._packed


def _close_abandoned_sockets(error: BaseException) -> None:
    """Close the sockets paho dropped on its way out of a failed connect().

    paho 2.x leaves the TLS socket open when the handshake fails (a certificate that
    does not verify, say); it is only reachable from the traceback's paho frames."""
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if str(frame.f_globals.get("__name__", "")).startswith("paho."):
            for value in frame.f_locals.values():
                if isinstance(value, socket.socket):
                    with contextlib.suppress(OSError):
                        value.close()
        tb = tb.tb_next


def _same_thread(loop_thread: int) -> bool:
    return threading.get_ident() == loop_thread


class MqttConnection:
    """One MQTT 5 connection to a broker; not reused after it closes.

    paho does the protocol; this class gives it the asyncio loop's reader and writer
    callbacks (paho's "external event loop" interface). ``on_message`` runs on the
    loop and must not block; exceptions it raises are logged, never propagated.
    """

    def __init__(
        self, options: ConnectionOptions, on_message: MessageCallback | None = None
    ) -> None:
        self.options = options
        self._on_message_cb = on_message
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self._pending_publishes: dict[int, asyncio.Future[ReasonCode]] = {}
        self._pending_subscribes: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._window = asyncio.Semaphore(max(1, options.max_inflight))
        self._misc_task: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._aborted = False
        self.receive_maximum = options.max_inflight

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.max_inflight_messages_set(0)  # unlimited in paho: our semaphore bounds it
        client.max_queued_messages_set(0)
        client.connect_timeout = options.connect_timeout_s
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls_context is not None:
            client.tls_set_context(options.tls_context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._client = client

    # -- public API --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return (
            self._connected.done()
            and not self._connected.cancelled()
            and self._connected.exception() is None
            and not self._closed.done()
        )

    @property
    def tcp_nodelay(self) -> bool:
        """Whether the socket has TCP_NODELAY set (False when not connected)."""
        sock = self._client.socket()
        if not isinstance(sock, socket.socket) or sock.fileno() < 0:
            return False
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def connect(self) -> None:
        """Open the TCP (or TLS) connection and wait for a successful CONNACK.

        Raises AdapterConnectionError (unreachable), AdapterTimeoutError (no CONNACK
        within ``connect_timeout_s``) or AdapterRejectedError (credentials refused)."""
        options = self.options
        properties = new_properties(PacketTypes.CONNECT)
        if options.session_expiry_s > 0:
            properties.SessionExpiryInterval = options.session_expiry_s
        # paho's connect() resolves and connects with blocking calls (bounded by
        # connect_timeout): keep them off the loop.
        connecting = self._loop.run_in_executor(None, self._connect_blocking, properties)
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:

            def abort_when_done(done: asyncio.Future[None]) -> None:
                if not done.cancelled():
                    done.exception()  # retrieved: the caller is gone
                self.abort()

            connecting.add_done_callback(abort_when_done)
            raise
        except TimeoutError as exc:
            _close_abandoned_sockets(exc)
            self.abort()
            raise AdapterTimeoutError(
                f"connecting to {options.host}:{options.port} timed out"
            ) from exc
        except (OSError, ValueError) as exc:
            _close_abandoned_sockets(exc)
            self.abort()
            raise AdapterConnectionError(
                f"cannot connect to {options.host}:{options.port}: {exc}"
            ) from exc
        try:
            async with asyncio.timeout(options.connect_timeout_s):
                await asyncio.shield(self._connected)
        except TimeoutError as exc:
            self.abort()
            raise AdapterTimeoutError(
                f"no CONNACK from {options.host}:{options.port} within "
                f"{options.connect_timeout_s} s"
            ) from exc
        except AdapterError:
            self.abort()
            raise
        except asyncio.CancelledError:
            self.abort()
            raise

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        properties: Properties | None = None,
        timeout_s: float = 5.0,
    ) -> ReasonCode | None:
        """Publish and, for QoS 1, wait until the broker acknowledges it (PUBACK).

        Returns the PUBACK's reason code (``None`` for QoS 0); 0x10 "no matching
        subscribers" is a success code. Raises AdapterConnectionError (not connected,
        or the connection broke before the PUBACK), AdapterTimeoutError (no PUBACK
        within ``timeout_s``) or AdapterRejectedError (a failure reason code, such as
        0x87 not authorised)."""
        try:
            async with asyncio.timeout(timeout_s):
                async with self._window:
                    self._ensure_connected()
                    info = self._client.publish(topic, payload, qos, False, properties)
                    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        raise AdapterConnectionError(
                            f"publish failed: {paho.error_string(info.rc)}"
                        )
                    if qos == 0:
                        return None
                    waiter: asyncio.Future[ReasonCode] = self._loop.create_future()
                    self._pending_publishes[info.mid] = waiter
                    try:
                        code = await waiter
                    finally:
                        if self._pending_publishes.get(info.mid) is waiter:
                            del self._pending_publishes[info.mid]
        except TimeoutError as exc:
            raise AdapterTimeoutError(f"no PUBACK for {topic} within {timeout_s} s") from exc
        if code.is_failure:
            raise AdapterRejectedError(f"broker refused the publish to {topic}: {code}")
        return code

    async def subscribe(
        self, topics: Sequence[str], *, qos: int = 1, timeout_s: float = 5.0
    ) -> list[ReasonCode]:
        """Subscribe to ``topics`` in one SUBSCRIBE; returns one reason code per topic
        (a failure code, such as 0x87 not authorised, means that filter was refused)."""
        self._ensure_connected()
        result, mid = self._client.subscribe([(topic, qos) for topic in topics])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise AdapterConnectionError(f"subscribe failed: {paho.error_string(result)}")
        waiter: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._pending_subscribes[mid] = waiter
        try:
            async with asyncio.timeout(timeout_s):
                return await waiter
        except TimeoutError as exc:
            raise AdapterTimeoutError(f"no SUBACK within {timeout_s} s") from exc
        finally:
            self._pending_subscribes.pop(mid, None)

    async def wait_closed(self) -> str:
        """Wait until the connection is gone; returns why."""
        return await asyncio.shield(self._closed)

    async def close(self, timeout_s: float = 2.0) -> None:
        """Disconnect politely (DISCONNECT packet), then make sure the socket is closed."""
        if self.connected:
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._closed)
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once, without a DISCONNECT (must run on the loop)."""
        self._aborted = True
        self._unregister()
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._mark_closed("aborted")

    # -- internals ---------------------------------------------------------------

    def _ensure_connected(self) -> None:
        if not self.connected:
            reason = self._closed.result() if self._closed.done() else "not connected"
            raise AdapterConnectionError(f"not connected to the broker ({reason})")

    def _connect_blocking(self, properties: Properties) -> None:
        options = self.options
        self._client.connect(
            options.host,
            options.port,
            keepalive=options.keepalive_s,
            clean_start=options.clean_start,
            properties=properties,
        )

    def _call_on_loop(self, fn: Callable[[], None]) -> None:
        if _same_thread(self._loop_thread):
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    def _unregister(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = None
        if self._misc_task is not None:
            self._misc_task.cancel()
            self._misc_task = None

    def _mark_closed(self, reason: str) -> None:
        if not self._closed.done():
            self._closed.set_result(reason)
        if not self._connected.done():
            self._connected.set_exception(AdapterConnectionError(f"connection closed: {reason}"))
            # Retrieved here so that an unawaited failure is never reported as such.
            self._connected.exception()
        error = AdapterConnectionError(f"connection lost before the answer: {reason}")
        for published in self._pending_publishes.values():
            if not published.done():
                published.set_exception(error)
        for subscribed in self._pending_subscribes.values():
            if not subscribed.done():
                subscribed.set_exception(error)
        self._pending_publishes.clear()
        self._pending_subscribes.clear()

    def _on_readable(self) -> None:
        client = self._client
        try:
            while True:
                client.loop_read()
                sock = client.socket()
                # TLS sockets can hold decrypted bytes that select() does not see.
                if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
                    continue
                break
        except Exception as exc:  # a broken socket; paho may not have noticed yet
            log.debug("MQTT read failed", exc_info=True)
            self._unregister()
            self._mark_closed(f"read failed: {exc}")

    def _on_writable(self) -> None:
        try:
            self._client.loop_write()
        except Exception as exc:
            log.debug("MQTT write failed", exc_info=True)
            self._unregister()
            self._mark_closed(f"write failed: {exc}")

    async def _misc_loop(self) -> None:
        # Keepalive pings and ping timeouts.
        while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1.0)

    # paho callbacks: socket ones may run on the executor thread during connect().

    def _on_socket_open(self, client: paho.Client, userdata: object, sock: object) -> None:
        if self.options.tcp_nodelay and isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = sock.fileno() if isinstance(sock, socket.socket) else None
        if fd is None:
            return

        def register() -> None:
            if self._aborted:
                return
            self._fd = fd
            self._loop.add_reader(fd, self._on_readable)
            self._misc_task = self._loop.create_task(self._misc_loop())

        self._call_on_loop(register)

    def _on_socket_close(self, client: paho.Client, userdata: object, sock: object) -> None:
        self._call_on_loop(self._unregister)

    def _on_socket_register_write(
        self, client: paho.Client, userdata: object, sock: object
    ) -> None:
        if not isinstance(sock, socket.socket):
            return
        fd = sock.fileno()

        def register() -> None:
            if not self._aborted and fd >= 0:
                self._loop.add_writer(fd, self._on_writable)

        self._call_on_loop(register)

    def _on_socket_unregister_write(
        self, client: paho.Client, userdata: object, sock: object
    ) -> None:
        if not isinstance(sock, socket.socket):
            return
        fd = sock.fileno()

        def unregister() -> None:
            self._loop.remove_writer(fd)

        if fd >= 0:
            self._call_on_loop(unregister)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connected.done():
            return
        if reason_code.is_failure:
            if reason_code.value in _REFUSAL_CODES:
                error: AdapterError = AdapterRejectedError(
                    f"broker refused the login: {reason_code}"
                )
            else:
                error = AdapterConnectionError(f"broker refused the connection: {reason_code}")
            self._connected.set_exception(error)
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        if isinstance(receive_maximum, int) and 0 < receive_maximum < self.options.max_inflight:
            # The broker may disconnect a client that exceeds its Receive Maximum.
            self.receive_maximum = receive_maximum
            self._window = asyncio.Semaphore(receive_maximum)
        self._connected.set_result(None)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._call_on_loop(lambda: self._mark_closed(f"disconnected: {reason_code}"))

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        waiter = self._pending_publishes.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reason_code)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties,
    ) -> None:
        waiter = self._pending_subscribes.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reason_codes)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        if self._on_message_cb is None:
            return
        try:
            self._on_message_cb(
                Message(
                    topic=message.topic,
                    payload=bytes(message.payload),
                    properties=getattr(message, "properties", None),
                    dup=bool(message.dup),
                )
            )
        except Exception:
            log.exception("MQTT message handler failed on %s", message.topic)


@dataclass
class Backoff:
    """Exponential backoff with ±20 % jitter between ``initial_s`` and ``max_s`` seconds."""

    initial_s: float = 0.2
    max_s: float = 30.0
    factor: float = 2.0
    _next_s: float = 0.0

    def reset(self) -> None:
        self._next_s = self.initial_s

    def next_delay(self) -> float:
        base = self._next_s or self.initial_s
        self._next_s = min(self.max_s, base * self.factor)
        return base * random.uniform(0.8, 1.2)


class MqttSession:
    """Keeps one connection up while running: connects, subscribes, and after any
    loss reconnects with exponential backoff (``backoff``), resubscribing each time.

    ``on_connected`` runs after every successful (re)subscription, e.g. to resend what
    could not be sent while the connection was down.
    """

    def __init__(
        self,
        options: ConnectionOptions,
        *,
        subscriptions: Sequence[str] = (),
        on_message: MessageCallback | None = None,
        on_connected: Callable[[MqttConnection], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
        name: str = "mqtt",
    ) -> None:
        self.options = options
        self.subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._on_connected = on_connected
        self.backoff = backoff or Backoff()
        self.name = name
        self.connects = 0
        self.last_error = "not started"
        self._connection: MqttConnection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def connection(self) -> MqttConnection | None:
        """The live, subscribed connection, or None while (re)connecting."""
        conn = self._connection
        return conn if conn is not None and conn.connected else None

    @property
    def connected(self) -> bool:
        return self.connection is not None

    async def start(self) -> None:
        """Start connecting in the background (see ``wait_connected``)."""
        self._stopping = False
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Disconnect politely (the broker keeps a persistent session) and stop reconnecting."""
        self._stopping = True
        conn = self._connection
        if conn is not None:
            await conn.close()
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._connection = None
        self._up.clear()
        self.last_error = "stopped"

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected and subscribed; raises AdapterTimeoutError after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self.connected:
                    await self._up.wait()
                    if not self.connected:  # lost again before the run loop noticed
                        await asyncio.sleep(0.01)
        except TimeoutError as exc:
            raise AdapterTimeoutError(
                f"{self.name}: not connected within {timeout_s} s ({self.last_error})"
            ) from exc

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        properties: Properties | None = None,
        timeout_s: float = 5.0,
    ) -> ReasonCode | None:
        """Publish on the live connection (see MqttConnection.publish); raises
        AdapterConnectionError at once while disconnected."""
        conn = self.connection
        if conn is None:
            raise AdapterConnectionError(f"{self.name}: not connected ({self.last_error})")
        return await conn.publish(
            topic, payload, qos=qos, properties=properties, timeout_s=timeout_s
        )

    async def _run(self) -> None:
        self.backoff.reset()
        while not self._stopping:
            conn = MqttConnection(self.options, self._on_message)
            try:
                await self._connect(conn)
                reason = await conn.wait_closed()
                self.last_error = reason
                if not self._stopping:
                    log.warning("%s: connection lost (%s); reconnecting", self.name, reason)
            except AdapterError as exc:
                self.last_error = str(exc)
                log.warning("%s: %s", self.name, exc)
            except Exception as exc:  # a bug must not end the reconnect loop
                self.last_error = f"unexpected error: {exc!r}"
                log.exception("%s: unexpected error", self.name)
            finally:
                self._connection = None
                self._up.clear()
                conn.abort()
            if not self._stopping:
                await asyncio.sleep(self.backoff.next_delay())

    async def _connect(self, conn: MqttConnection) -> None:
        await conn.connect()
        if self.subscriptions:
            codes = await conn.subscribe(self.subscriptions, qos=1)
            refused = [
                f"{topic} ({code})"
                for topic, code in zip(self.subscriptions, codes, strict=False)
                if code.is_failure
            ]
            if refused:
                raise AdapterRejectedError(f"subscriptions refused: {', '.join(refused)}")
        self._connection = conn
        self.connects += 1
        self.last_error = ""
        self.backoff.reset()
        self._up.set()
        log.info("%s: connected to %s:%d", self.name, self.options.host, self.options.port)
        if self._on_connected is not None:
            await self._on_connected(conn)
