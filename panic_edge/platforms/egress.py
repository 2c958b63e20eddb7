"""Where the daemon's platform clients may connect, and how much an answer may weigh.

A platform's answer names the URL of its output file, and every redirect names another: a
hostile or compromised platform could point the appliance at its own admin API, the venue's
router or a cloud metadata address. So output files come from **global addresses only**:

- every address the host resolves to is checked (``is_public``: not loopback, private,
  link-local, shared (CGNAT), multicast, reserved or unspecified; an IPv6 address that embeds an
  IPv4 one, mapped, 6to4 or NAT64, is judged by the IPv4 address), and a host with any refused
  address is refused whole;
- the check happens inside the connection itself (``GuardedBackend`` is httpcore's network
  backend): the socket is opened to the very address that was checked, so a name that resolves
  to a public address for the check and to 127.0.0.1 a moment later (DNS rebinding) gains
  nothing, and every redirect hop is checked the same way. TLS still verifies the host name.
- **A local platform keeps working**: when the platform's own base URL is on a non-global
  address (a local Ollama, llama.cpp or cog server), its files may come from that same address
  and port; ``platforms.allow_private_downloads = true`` lets them come from any address
  (a model server on the LAN that serves its files from another machine).

``GuardedTransport`` also caps the bytes of every answer (``max_body``), for the API clients as
well as the downloads: a platform that streams without end fails, it does not fill the memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from panic_edge.platforms.errors import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not global, not "private"


class DownloadRefused(PermanentError):
    """An output URL (or a redirect) pointed at an address downloads may not go to."""


class AnswerTooLarge(PermanentError):
    """A platform's answer was larger than its cap."""


def is_public(address: str | IPAddress) -> bool:
    """Whether ``address`` is a global unicast address (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if embedded is not None and not is_public(embedded):
            return False
    elif ip in SHARED:
        return False
    return ip.is_global and not ip.is_multicast


def describe(address: str) -> str:
    """What kind of address it is, for a message: 'a loopback address', ..."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an address"
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return "a non-global address"


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver), in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    """Which addresses ``platform``'s downloads may connect to (see the module docstring)."""

    def __init__(self, platform: str, base_url: str, allow_private: bool = False,
                 resolve: Resolver = system_resolve) -> None:
        base = httpx.URL(base_url)
        self.platform = platform
        self.allow_private = allow_private
        self._base = (base.host, base.port or (443 if base.scheme == "https" else 80))
        self._resolve = resolve

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host:port``; DownloadRefused if any is refused."""
        try:
            found = await self._resolve(host, port)
        except (OSError, UnicodeError) as err:
            raise httpcore.ConnectError(f"cannot resolve {host}: {err}") from None
        if not found:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        refused = [ip for ip in found if not is_public(ip)]
        if refused and not self.allow_private and not await self._own_local_origin(refused, port):
            where = f"{refused[0]}" if host == refused[0] else f"{host} ({refused[0]})"
            raise DownloadRefused(
                f"the {self.platform} output file is at {where}, {describe(refused[0])}: "
                "output files may only come from public addresses, or from the platform's own "
                "address when it runs locally (platforms.allow_private_downloads)")
        return found

    async def _own_local_origin(self, refused: list[str], port: int) -> bool:
        host, base_port = self._base
        if port != base_port:
            return False
        try:
            own = await self._resolve(host, base_port)
        except (OSError, UnicodeError):
            return False
        return bool(own) and not any(is_public(ip) for ip in own) and set(refused) <= set(own)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses ``policy`` let through."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for downloads")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Capped(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, what: str) -> None:
        self._inner, self._limit, self._what = inner, limit, what

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(f"{self._what} is larger than {self._limit} bytes; gave up reading it")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with an answer size cap and, given a ``policy``, the address check."""

    def __init__(self, what: str, max_body: int, policy: EgressPolicy | None = None) -> None:
        super().__init__()
        self.what, self.max_body = what, max_body
        if policy is not None:
            # httpx takes no network backend; its transport is a thin shell over this pool
            # (tests/test_egress.py proves the backend is the one in use)
            self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                      network_backend=GuardedBackend(policy))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await response.aclose()
            raise AnswerTooLarge(f"{self.what} is {length} bytes; the limit is {self.max_body}")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Capped(response.stream, self.max_body, self.what)
        return response
