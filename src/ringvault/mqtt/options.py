"""The bridge's settings: where the broker is (``BrokerUrl``) and how the bridge behaves (``BridgeOptions``).

The broker's password never appears in ``repr``, ``str`` or ``display`` (it is what log lines and error messages
show); give it in the URL (``mqtt://user:pass@host``) or, to keep it out of the process list, in the environment
(``RINGVAULT_MQTT_PASSWORD``) with ``mqtt://user@host``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

__all__ = [
    "BYPASS_POLICIES",
    "PASSWORD_ENV",
    "SNAPSHOT_MODES",
    "BridgeOptions",
    "BrokerUrl",
    "BrokerUrlError",
]

PASSWORD_ENV = "RINGVAULT_MQTT_PASSWORD"
BypassPolicy = Literal["none", "faulted", "always"]
BYPASS_POLICIES: tuple[BypassPolicy, ...] = ("none", "faulted", "always")
SnapshotMode = Literal["motion", "ding", "interval"]
SNAPSHOT_MODES: tuple[SnapshotMode, ...] = ("motion", "ding", "interval")


class BrokerUrlError(ValueError):
    """A ``--broker`` value that is not ``mqtt[s]://[user[:password]@]host[:port]`` (one line, no password)."""


@dataclass(frozen=True)
class BrokerUrl:
    """A parsed ``mqtt://`` / ``mqtts://`` URL. ``ca_file`` names the CA that signs the broker's certificate for
    ``mqtts`` (None: the system's CAs)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, *, password: str | None = None, ca_file: str | None = None) -> BrokerUrl:
        """Parse ``url``; ``password`` (else ``RINGVAULT_MQTT_PASSWORD``) fills in a password the URL lacks."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise BrokerUrlError("--broker: the port is not a number from 1 to 65535 (use mqtt://host:1883)") from None
        if parts.scheme not in ("mqtt", "mqtts"):
            raise BrokerUrlError("--broker must start with mqtt:// or mqtts:// (e.g. mqtt://user@127.0.0.1:1883)")
        if not parts.hostname:
            raise BrokerUrlError("--broker names no host (e.g. mqtt://user@127.0.0.1:1883)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BrokerUrlError("--broker takes no path or query: mqtt[s]://[user[:password]@]host[:port]")
        tls = parts.scheme == "mqtts"
        user = unquote(parts.username) if parts.username else None
        secret = unquote(parts.password) if parts.password is not None else None
        if secret is None:
            secret = password if password is not None else os.environ.get(PASSWORD_ENV) or None
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=user,
            password=secret,
            ca_file=ca_file,
        )

    @property
    def display(self) -> str:
        """The URL without its password (what logs and messages show)."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"

    def __str__(self) -> str:
        return self.display


@dataclass
class BridgeOptions:
    """How the bridge behaves (every field has a CLI option of the same meaning in ``ringvault mqtt``).

    - ``base_topic`` / ``discovery_prefix``: the topic tree's root and Home Assistant's discovery prefix;
    - ``motion_hold_s`` / ``ding_hold_s``: how long a motion / ding binary_sensor stays on after the event;
    - ``snapshot_modes`` / ``snapshot_interval_s``: when the camera image entity is refreshed (battery cameras at
      most every ``battery_snapshot_min_s``, whatever the mode);
    - ``bypass_policy``: which sensors arming bypasses (``none``; ``faulted``: the open ones; ``always``: every
      contact and motion sensor... as ring-mqtt's "bypass mode");
    - ``command_rate`` per ``command_period_s``: commands accepted per device (more are logged and dropped);
    - ``health_check_s``: how often Ring's history is compared with what push delivered;
    - ``event_queue_max``: events kept for a broker that is away (the oldest beyond are dropped, and counted);
    - ``serve_url``: the base URL of ``ringvault serve`` for recording links (None: no URL, the path only).
    """

    base_topic: str = "ringvault"
    discovery_prefix: str = "homeassistant"
    client_id: str | None = None
    keepalive_s: int = 30
    motion_hold_s: float = 180.0
    ding_hold_s: float = 180.0
    snapshot_modes: frozenset[SnapshotMode] = frozenset({"motion", "ding"})
    snapshot_interval_s: float = 3600.0
    battery_snapshot_min_s: float = 600.0
    bypass_policy: BypassPolicy = "none"
    command_rate: int = 10
    command_period_s: float = 10.0
    health_check_s: float = 300.0
    event_queue_max: int = 10_000
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    serve_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("base_topic", "discovery_prefix"):
            value = getattr(self, name)
            if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
                raise ValueError(f"{name} {value!r} must be a topic without wildcards or leading/trailing '/'")
        bad = set(self.snapshot_modes) - set(SNAPSHOT_MODES)
        if bad:
            raise ValueError(f"snapshot modes are {', '.join(SNAPSHOT_MODES)}; not {sorted(bad)[0]!r}")
        if self.bypass_policy not in BYPASS_POLICIES:
            raise ValueError(f"bypass policy must be one of {', '.join(BYPASS_POLICIES)}")
        if self.motion_hold_s <= 0 or self.ding_hold_s <= 0:
            raise ValueError("hold times must be positive")
        if self.command_rate < 1 or self.command_period_s <= 0:
            raise ValueError("the command rate must be at least 1 per a positive period")
