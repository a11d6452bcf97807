"""``HubOptions``: timeouts and bounds of the hub socket (light: no socket library imported here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubOptions:
    """How a location's hub connection behaves.

    ring-client-api has no timeouts here (a silent hub blocks ``getDevices`` forever, an arm without an answer hangs);
    ringvault bounds every wait:

    - ``devices_timeout_s``: default wait for every hub's device list (``Location.get_devices(timeout=)``).
    - ``command_timeout_s``: wait for an open socket to send a command, and for the panel's answer to an arm.
    - ``reply_timeout_s``: wait for the answer to a list request (rooms).
    - ``max_failures``: failed connection attempts in a row (each fetches a new ticket, through ``RingHttp``'s own
      retries) before waiting callers get ``HubUnavailableError``; the socket keeps trying in the background.
    - ``backoff_initial_s`` / ``backoff_max_s``: wait before reconnecting (~1 s first, as rca; doubling, capped).
    - ``max_frame_bytes``: the largest incoming frame (a bigger one is dropped and costs a reconnect).
    - ``max_devices``: hub devices kept per location; updates naming further unknown zids are ignored (a hostile or
      broken hub must not grow memory without bound).
    """

    devices_timeout_s: float = 20.0
    command_timeout_s: float = 20.0
    reply_timeout_s: float = 10.0
    max_failures: int = 3
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    backoff_jitter_s: float = 0.5
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    open_timeout_s: float = 10.0
    stable_after_s: float = 10.0
    max_frame_bytes: int = 4 * 1024 * 1024
    max_devices: int = 10_000
