"""Knobs of the simulated live view (``SimConfig.live``): timers, bounds, the generated picture and faults.

Change them at run time with ``PATCH /_sim/config`` ``{"live": {...}}`` or ``PATCH /_sim/live/config``. Timers
count wall-clock seconds (a network timer, like Ring's): moving the simulated clock does not end a session.
Sources of the defaults are in docs/simulator.md ("Live view"); ``[sim]`` marks our choices.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class LiveConfig(BaseModel):
    """Timers, bounds, media and fault knobs of the signalling socket and its answerer."""

    # timers (reference §9.5)
    ping_timeout_s: float = Field(15.0, gt=0, description="close with code 6 after this long without a ping")
    activate_timeout_s: float = Field(70.0, gt=0, description="a session without activate_session ends here")
    max_duration_s: float = Field(
        600.0, gt=0, description="a session ends after this long (max_duration; fixed when it starts)"
    )
    connect_timeout_s: float = Field(20.0, gt=0, description="[sim] the peer must connect within this long")
    ticket_ttl_s: float = Field(300.0, gt=0, description="[sim] a signalsocket ticket is refused after this long")
    # bounds [sim]
    max_frame_bytes: int = Field(65536, ge=1024, le=1024 * 1024, description="a larger client frame closes (1009)")
    max_sessions_per_camera: int = Field(3, ge=1, le=32, description="[sim] more live views of one camera refused")
    max_sessions: int = Field(16, ge=1, le=256, description="[sim] more live views in all are refused")
    # the generated picture and tone
    width: int = Field(320, ge=320, le=640, description="video width (pixels, even)")
    height: int = Field(240, ge=240, le=360, description="video height (pixels, even)")
    fps: int = Field(10, ge=1, le=15, description="video frames per second")
    tone_hz: float = Field(440.0, ge=50, le=4000, description="audio tone; each camera adds its own offset")
    # faults [sim]
    answer_delay_s: float = Field(0.0, ge=0, le=60, description="slow start: wait this long before session_created")
    ice_failure: bool = Field(False, description="the answer carries no candidate: the peers never connect")
    close_after_s: float | None = Field(None, gt=0, description="every new session is closed this long after start")
    trickle_ice: bool = Field(False, description="also send each answer candidate as an `ice` frame")

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        """H.264 in 4:2:0 needs even sizes."""
        if value % 2:
            raise ValueError("must be even")
        return value
