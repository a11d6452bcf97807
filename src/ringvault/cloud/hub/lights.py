"""Smart Lighting light groups over REST (``groups/v1``, reference §4.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringvault.cloud.endpoints import groups_api
from ringvault.cloud.errors import ResponseFormatError
from ringvault.cloud.hub.device import MAX_LIGHT_DURATION_S

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp

__all__ = ["LightGroup", "fetch_light_groups", "set_light_group"]


def _group_path(location_id: str, group_id: str | None = None) -> str:
    path = f"locations/{location_id}/groups"
    return f"{path}/{group_id}/devices" if group_id is not None else path


def _check_duration(duration_s: int | None) -> None:
    if duration_s is not None and (isinstance(duration_s, bool) or not 0 <= duration_s <= MAX_LIGHT_DURATION_S):
        raise ValueError(f"duration must be between 0 and {MAX_LIGHT_DURATION_S} seconds, got {duration_s!r}")


async def set_light_group(http: RingHttp, location_id: str, group_id: str, on: bool, duration_s: int | None) -> None:
    """``POST …/groups/{id}/devices`` ``{"lights_on": {"enabled", "duration_seconds"?}}`` (its answer is ignored)."""
    _check_duration(duration_s)
    lights_on: dict[str, Any] = {"enabled": bool(on)}
    if duration_s is not None:
        lights_on["duration_seconds"] = int(duration_s)
    await http.request_json("POST", groups_api(_group_path(location_id, group_id)), json={"lights_on": lights_on})


class LightGroup:
    """A Smart Lighting light group: ``id``, ``name``, ``location_id``, ``device_ids`` (its lights' ids); ``raw``."""

    def __init__(self, raw: dict[str, Any], location_id: str, http: RingHttp) -> None:
        self.raw = raw
        self._http = http
        self.id = str(raw.get("device_group_id") or raw.get("id") or "")
        name = raw.get("name")
        self.name = name if isinstance(name, str) and name else self.id
        loc = raw.get("location_id")
        self.location_id = loc if isinstance(loc, str) and loc else location_id
        members = raw.get("devices")
        self.device_ids: list[str] = []
        for member in members if isinstance(members, list) else []:
            if isinstance(member, dict):
                ident = member.get("doorbot_id", member.get("id"))
                if ident is not None and not isinstance(ident, bool | dict | list):
                    self.device_ids.append(str(ident))

    async def get_state(self) -> dict[str, Any]:
        """``GET …/groups/{id}/devices``: ``lights_on``, motion settings and each light's state."""
        doc = await self._http.request_json("GET", groups_api(_group_path(self.location_id, self.id)))
        if not isinstance(doc, dict):
            raise ResponseFormatError(f"light group {self.name} did not answer a JSON object")
        return doc

    async def set_lights(self, on: bool, duration_s: int | None = None) -> None:
        """Switch every light of the group on (for ``duration_s`` seconds, at most 32767) or off."""
        await set_light_group(self._http, self.location_id, self.id, on, duration_s)

    def __repr__(self) -> str:
        return f"<LightGroup id={self.id!r} name={self.name!r} lights={len(self.device_ids)}>"


async def fetch_light_groups(http: RingHttp, location_id: str) -> list[LightGroup]:
    """``GET groups/v1/locations/{loc}/groups`` → ``device_groups``."""
    doc = await http.request_json("GET", groups_api(_group_path(location_id)))
    groups = doc.get("device_groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list):
        raise ResponseFormatError("groups/v1 answered without device_groups")
    return [LightGroup(item, location_id, http) for item in groups if isinstance(item, dict)]
