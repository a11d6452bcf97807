"""Which local addresses WebRTC peers gather ICE host candidates on (the live view of both the client and the
simulator).

aioice gathers host candidates from every interface address except 127.0.0.1 and ::1 (``aioice.ice.
get_host_addresses``), and neither aioice nor aiortc has an option to change that. The simulator must answer with
loopback candidates (it binds 127.0.0.1 only), and a client talking to the simulator must not open UDP sockets on the
machine's network interfaces either; so :func:`install` wraps that one function with a version that consults a
context variable: inside :func:`host_addresses` (and the tasks started in it, such as aiortc's connect task)
gathering uses exactly the given addresses; everywhere else it delegates to aioice's own function unchanged. No
library file is modified, no object's private attribute is touched; this is the one place that does it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import aioice.ice

_FORCED: ContextVar[tuple[str, ...] | None] = ContextVar("ringvault_sim_live_host_addresses", default=None)
_MARK = "_ringvault_sim_live"

LOOPBACK = ("127.0.0.1",)


def install() -> None:
    """Wrap ``aioice.ice.get_host_addresses`` once per process (idempotent)."""
    original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
    if getattr(original, _MARK, False):
        return

    def scoped(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        forced = _FORCED.get()
        if forced is None:
            return original(use_ipv4, use_ipv6)
        return list(forced)

    setattr(scoped, _MARK, True)
    aioice.ice.get_host_addresses = scoped


@contextlib.contextmanager
def host_addresses(addresses: tuple[str, ...]) -> Iterator[None]:
    """Gather ICE host candidates on exactly ``addresses`` (empty: none at all) within this block; tasks created
    inside it (aiortc's connect task) inherit the setting."""
    install()
    token = _FORCED.set(addresses)
    try:
        yield
    finally:
        _FORCED.reset(token)
