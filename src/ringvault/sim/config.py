"""Simulator configuration: the seeded world's size, the account, token lifetimes, and fault knobs.

All fault knobs are off by default. Every knob can be set from ``ringvault sim`` flags and changed at run time
through ``/_sim/config`` and ``/_sim/faults``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from ringvault.sim.live.config import LiveConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.push.config import PushConfig

#: Ring's device families (the keys of ``clients_api/ring_devices``).
DeviceFamily = Literal[
    "doorbots", "authorized_doorbots", "stickup_cams", "chimes", "base_stations", "beams_bridges", "other"
]


class FaultConfig(BaseModel):
    """Failure modes of Ring's cloud, each a knob. Probabilities are 0..1."""

    latency_ms: float = Field(0.0, ge=0, description="added to every request")
    latency_jitter_ms: float = Field(0.0, ge=0, description="uniform extra latency 0..jitter")
    bandwidth_kbps: float = Field(0.0, ge=0, description="per-connection cap for media bodies; 0 = unlimited")
    rate_limit_rps: float = Field(0.0, ge=0, description="above this request rate answer 429; 0 = off")
    rate_limit_burst: int = Field(10, ge=1, description="token-bucket burst for rate_limit_rps")
    retry_after_s: int = Field(1, ge=0, description="Retry-After sent with every 429")
    error_rate: float = Field(0.0, ge=0, le=1, description="fraction of API requests answered 500/503")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="fraction of API requests answered 504")
    drop_rate: float = Field(0.0, ge=0, le=1, description="fraction of media bodies cut off mid-body")
    socket_drop_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of hub socket frames replaced by an abrupt drop of the socket"
    )
    recording_delay_s: float = Field(0.0, ge=0, description="recordings are not ready for this long after an event")
    expire_access_every: int = Field(
        0, ge=0, description="expire the access token after this many API requests (forces refresh+rotation)"
    )
    html_media_ids: list[str] = Field(
        default_factory=list,
        description="ding ids whose recording answers 200 text/html (a CDN/proxy error page) instead of the MP4",
    )
    path_pattern: str | None = Field(None, description="regex; when set, faults apply only to matching paths")
    seed: int | None = Field(None, description="seed of the fault RNG; None = the world seed")

    @field_validator("html_media_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        """Ding ids exceed 2^53: accept them as JSON numbers or strings, keep them as text."""
        if isinstance(value, list | tuple | set | frozenset):
            return [str(item) if isinstance(item, int) and not isinstance(item, bool) else item for item in value]
        return value


class SimConfig(BaseModel):
    seed: int = 1
    # account
    email: str = "demo@ringvault.test"
    password: str = "ring-sim-password"
    first_name: str = "Casey"
    last_name: str = "Demo"
    two_factor: bool = True
    tsv_state: Literal["sms", "email", "totp"] = "sms"
    phone: str = "+1xxxxxxxx89"
    # world
    locations: int = Field(2, ge=1, le=20)
    events_per_device: int = Field(40, ge=0, le=5000)
    device_families: list[DeviceFamily] | None = Field(
        None, description="only devices of these families exist (e.g. ['doorbots']); None = the full catalogue"
    )
    history_days: float = Field(30.0, gt=0, description="events are spread over this many days before start-up")
    retention_days: float = Field(60.0, gt=0, description="events older than this disappear from history")
    # tokens and sessions
    access_token_ttl_s: int = Field(3600, ge=1, description="expires_in of issued access tokens")
    refresh_token_ttl_s: float = Field(15 * 86400, gt=0)
    refresh_grace_s: float = Field(0.0, ge=0, description="a superseded refresh token still works this long")
    session_ttl_s: float = Field(24 * 3600, gt=0)
    session_budget_per_day: int = Field(0, ge=0, description="429 on POST session beyond this per day; 0 = off")
    two_factor_limit: int = Field(10, ge=1, description="2FA codes sent per window")
    two_factor_window_s: float = Field(600.0, gt=0)
    two_factor_code_ttl_s: float = Field(600.0, gt=0, description="an sms/email 2FA code expires after this long")
    strict_put_content_type: bool = Field(
        True, description="PUT with a non-JSON content type -> 422, as Ring does (no content type is accepted)"
    )
    # alarm and Smart Lighting hub socket (ringvault.sim.hub); the delays are [sim] defaults
    hub_ticket_ttl_s: float = Field(300.0, gt=0, description="a clap/tickets ticket is refused after this long")
    hub_max_frame_bytes: int = Field(65536, ge=256, description="a larger client frame closes the socket with 1009")
    hub_max_sockets_per_location: int = Field(8, ge=1, description="more hub sockets per location are refused (429)")
    hub_exit_delay_away_s: int = Field(60, ge=0, le=3600, description="exit delay after arming away")
    hub_exit_delay_home_s: int = Field(0, ge=0, le=3600, description="exit delay after arming home")
    hub_entry_delay_s: int = Field(30, ge=0, le=3600, description="entry delay before an armed sensor sounds the alarm")
    hub_light_duration_s: int = Field(60, ge=1, le=32767, description="Beams light-mode on without a duration")
    # snapshots
    snapshot_capture_delay_s: float = Field(1.0, ge=0, description="time a forced capture takes")
    # media
    media_cache_dir: Path | None = Field(None, description="where generated JPEG/MP4 files are cached")
    recording_seconds: float = Field(2.0, gt=0, le=30, description="length of generated MP4 clips")
    faults: FaultConfig = Field(default_factory=FaultConfig)
    portability: PortabilityConfig = Field(default_factory=PortabilityConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
