"""Events, history and video search documents.

Ding ids exceed 2^53. Python's JSON parser keeps them exact, but other producers may round them, so every model
exposes the exact **string** id (``HistoryItem.id_str``, ``CameraEvent.ding_id_str``, ``VideoSearchResult.ding_id``)
and the string twin Ring sends wins over a number. Use the string id for every recording request.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from ringvault.cloud.models.base import (
    LooseBool,
    LooseDatetime,
    LooseDict,
    LooseFloat,
    LooseId,
    LooseInt,
    LooseList,
    LooseStr,
    RingModel,
    sub_model,
    to_id_int,
    to_id_str,
)

__all__ = [
    "CameraEvent",
    "CameraEventsPage",
    "CvProperties",
    "HistoryDoorbot",
    "HistoryItem",
    "Recording",
    "VideoSearchResult",
    "reconcile_ids",
]


def reconcile_ids(data: dict[str, Any], number_key: str, string_key: str) -> dict[str, Any]:
    """Make ``string_key`` the exact id and ``number_key`` its integer, preferring Ring's string twin."""
    exact = to_id_str(data.get(string_key)) or to_id_str(data.get(number_key))
    out = dict(data)
    out[string_key] = exact
    number = to_id_int(exact) if exact is not None and exact.lstrip("-").isdigit() else None  # "²" is a digit too
    if number is not None:
        out[number_key] = number
    elif not isinstance(data.get(number_key), int) or isinstance(data.get(number_key), bool):
        out[number_key] = None
    return out


class CvProperties(RingModel):
    """Computer-vision results attached to an event (person detected, detection type, ...)."""

    person_detected: LooseBool = None
    stream_broken: LooseBool = None
    detection_type: LooseStr = None
    detection_types: LooseList = Field(default_factory=list)


class Recording(RingModel):
    """``recording`` of a history item: ``status`` is ``ready`` once the clip exists."""

    status: LooseStr = None


class HistoryDoorbot(RingModel):
    """The device stub inside newer history items."""

    id: LooseInt = None
    description: LooseStr = None
    type: LooseStr = None


SubCv = Annotated[CvProperties | None, BeforeValidator(sub_model)]


class HistoryItem(RingModel):
    """One item of ``GET /clients_api/doorbots/{id}/history`` (newest first).

    ``id`` is exact (a Python int of any size); ``id_str`` is the string to use in URLs.
    """

    id: LooseInt = None
    id_str: LooseId = None
    kind: LooseStr = None
    created_at: LooseDatetime = None
    answered: LooseBool = None
    favorite: LooseBool = None
    events: LooseList = Field(default_factory=list)
    recording: Annotated[Recording | None, BeforeValidator(sub_model)] = None
    snapshot_url: LooseStr = None
    duration: LooseFloat = None
    cv_properties: SubCv = None
    properties: LooseDict = None
    doorbot: Annotated[HistoryDoorbot | None, BeforeValidator(sub_model)] = None
    owner_id: LooseStr = None
    had_subscription: LooseBool = None
    is_e2ee: LooseBool = None

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        return reconcile_ids(data, "id", "id_str") if isinstance(data, dict) else data

    @property
    def ding_id_str(self) -> str | None:
        """Alias of ``id_str`` (the ding id of this event)."""
        return self.id_str

    @property
    def recording_ready(self) -> bool:
        return self.recording is not None and (self.recording.status or "").lower() == "ready"


class CameraEvent(RingModel):
    """One event of ``locations/{loc}/events`` or ``locations/{loc}/devices/{id}/events``."""

    ding_id: LooseInt = None
    ding_id_str: LooseId = None
    doorbot_id: LooseInt = None
    created_at: LooseDatetime = None
    kind: LooseStr = None
    state: LooseStr = None
    favorite: LooseBool = None
    recorded: LooseBool = None
    recording_status: LooseStr = None
    cv_properties: SubCv = None

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        return reconcile_ids(data, "ding_id", "ding_id_str") if isinstance(data, dict) else data

    @property
    def id_str(self) -> str | None:
        """Alias of ``ding_id_str``."""
        return self.ding_id_str


class CameraEventsPage(RingModel):
    """One page of events; ``pagination_key`` is None on the last page."""

    events: list[CameraEvent] = Field(default_factory=list)
    pagination_key: LooseId = None

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        events = data.get("events")
        meta = data.get("meta")
        key = meta.get("pagination_key") if isinstance(meta, dict) else data.get("pagination_key")
        return {
            **data,
            "events": [e for e in events if isinstance(e, dict)] if isinstance(events, list) else [],
            "pagination_key": key,
        }


class VideoSearchResult(RingModel):
    """One item of ``GET /clients_api/video_search/history`` (``ding_id`` is a string, ``created_at`` epoch ms)."""

    ding_id: LooseId = None
    created_at: LooseDatetime = None
    kind: LooseStr = None
    state: LooseStr = None
    hq_url: LooseStr = Field(None, repr=False)
    lq_url: LooseStr = Field(None, repr=False)
    untranscoded_url: LooseStr = Field(None, repr=False)
    thumbnail_url: LooseStr = Field(None, repr=False)
    preroll_duration: LooseFloat = None
    had_subscription: LooseBool = None
    favorite: LooseBool = None
    duration: LooseFloat = None
    cv_properties: SubCv = None

    @property
    def ding_id_str(self) -> str | None:
        return self.ding_id

    @property
    def recording_url(self) -> str | None:
        """The pre-signed URL of the recording as the camera made it (``untranscoded_url``: the same file that
        ``dings/{id}/share/play`` points at), or None while Ring has none. ``lq_url`` is a lower-quality transcode
        and is not used for archiving."""
        url = (self.untranscoded_url or "").strip()
        return url or None


def event_query(
    *, limit: int, kind: str | None, state: str | None, pagination_key: str | None, favorites: bool | None
) -> dict[str, Any]:
    """Query parameters of Ring's event lists (``locations/{loc}[/devices/{id}]/events``), absent ones left out."""
    params: dict[str, Any] = {"limit": limit}
    if kind:
        params["kind"] = kind
    if state:
        params["state"] = state
    if favorites is not None:
        params["favorites"] = "true" if favorites else "false"
    if pagination_key:
        params["pagination_key"] = pagination_key
    return params
