"""Knobs of the simulated push service (``SimConfig.push``): Google's registration hosts, the MCS endpoint and
Ring's push side.

All are off by default. Change them at run time with ``PATCH /_sim/push/faults`` (or ``PATCH /_sim/config``
``{"push": {...}}``). The ``*_next`` counters are one-shot: each message they affect decrements them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class PushConfig(BaseModel):
    """Failure modes of push delivery and registration; ``[sim]`` knobs, nothing like them exists at Ring."""

    delivery_delay_s: float = Field(0.0, ge=0, le=3600, description="a message reaches MCS this long after the event")
    duplicate_next: int = Field(0, ge=0, description="deliver the next N messages twice (same persistent_id)")
    lose_next: int = Field(0, ge=0, description="lose the next N messages (never delivered)")
    drop_next: int = Field(
        0, ge=0, description="drop the MCS connection instead of delivering the next N messages (kept for re-login)"
    )
    stale_registrations: bool = Field(
        False,
        description="pushes to every FCM token registered before this was turned on vanish silently while the MCS "
        "connection stays up; a token registered later receives again (the failure a new registration fixes)",
    )
    register_error: str | None = Field(
        None, description="c2dm/register3 answers Error=<this> (e.g. PHONE_REGISTRATION_ERROR) while set"
    )
    ring_patch_status: int = Field(
        204, ge=200, le=599, description="PATCH clients_api/device answers this status (Ring: 204)"
    )
    require_session: bool = Field(
        True, description="push only to registrations whose Ring session is live (pushes stop when it lapses, §8.7)"
    )
    require_subscription: bool = Field(
        False, description="push dings/motions only for devices subscribed with doorbots/{id}/subscribe [unconfirmed]"
    )
    mcs_max_frame_bytes: int = Field(256 * 1024, ge=1024, description="a larger client frame closes the MCS socket")
