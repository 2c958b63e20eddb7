"""This machine's address on the venue network, for links other machines follow.

A daemon listening on every interface (``[http] host = "0.0.0.0"``) must tell display nodes,
visitors' phones and Home Assistant an address they can reach: not 127.0.0.1. Without an
``[http] public_url`` it is the address of the interface the default route leaves by, found
the usual way (a UDP socket "connected" to a documentation address: no packet is sent).
"""

from __future__ import annotations

import ipaddress
import socket

_PROBE = ("192.0.2.1", 9)  # TEST-NET-1 (RFC 5737): routed by the default route, never reached


def lan_address() -> str | None:
    """The IPv4 address other machines on the local network reach this one by, or None when
    there is no network (no default route) or only loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(_PROBE)
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    try:
        if ipaddress.ip_address(address).is_loopback or ipaddress.ip_address(address).is_unspecified:
            return None
    except ValueError:
        return None
    return address
