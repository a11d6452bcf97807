"""``RingChime``: Chime and Chime Pro (volume, test sounds, do-not-disturb, health, linked doorbells)."""

from __future__ import annotations

from typing import Any, Literal

from ringvault.cloud.device import DeviceBase
from ringvault.cloud.endpoints import clients_api
from ringvault.cloud.errors import ResponseFormatError
from ringvault.cloud.models.devices import ChimeEntry
from ringvault.cloud.models.health import DeviceHealth

__all__ = ["MAX_SNOOZE_MINUTES", "MAX_VOLUME", "RingChime"]

MAX_VOLUME = 11
MAX_SNOOZE_MINUTES = 1440


class RingChime(DeviceBase[ChimeEntry]):
    """A Ring Chime. ``volume`` is 0-11; ``snooze_seconds_left`` > 0 while do-not-disturb is on."""

    def _url(self, suffix: str = "") -> str:
        return clients_api(f"chimes/{self.id}{suffix}")

    @property
    def volume(self) -> int | None:
        return self.data.settings.volume if self.data.settings is not None else None

    @property
    def snooze_seconds_left(self) -> int:
        dnd = self.data.do_not_disturb
        return max(0, dnd.seconds_left or 0) if dnd is not None else 0

    @property
    def is_snoozed(self) -> bool:
        return self.snooze_seconds_left > 0

    async def set_volume(self, volume: int) -> None:
        """Set the chime volume (0-11)."""
        if isinstance(volume, bool) or not isinstance(volume, int) or not 0 <= volume <= MAX_VOLUME:
            raise ValueError(f"chime volume must be an integer 0..{MAX_VOLUME}, got {volume!r}")
        await self._http.request("PUT", self._url("/"), json={"chime": {"settings": {"volume": volume}}})
        self._patch_local({"settings": {"volume": volume}})

    async def play_sound(self, kind: Literal["ding", "motion"] = "ding") -> None:
        """Play the ding or motion sound once (a test ring)."""
        if kind not in ("ding", "motion"):
            raise ValueError("kind must be 'ding' or 'motion'")
        await self._http.request("POST", self._url("/play_sound"), json={"kind": kind})

    async def snooze(self, minutes: int) -> None:
        """Turn on do-not-disturb for ``minutes`` (1-1440)."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SNOOZE_MINUTES:
            raise ValueError(f"snooze must be 1..{MAX_SNOOZE_MINUTES} minutes, got {minutes!r}")
        await self._http.request("POST", self._url("/do_not_disturb"), json={"time": minutes})
        self._patch_local({"do_not_disturb": {"seconds_left": minutes * 60}})

    async def clear_snooze(self) -> None:
        """Turn do-not-disturb off."""
        await self._http.request("POST", self._url("/do_not_disturb"))
        self._patch_local({"do_not_disturb": {"seconds_left": 0}})

    async def get_health(self) -> DeviceHealth:
        return DeviceHealth.model_validate(await self._http.request_json("GET", self._url("/health")))

    async def linked_doorbots(self) -> list[dict[str, Any]]:
        """The doorbells that ring this chime (Ring's stubs, as JSON objects)."""
        doc = await self._http.request_json("GET", self._url("/linked_doorbots"))
        if isinstance(doc, dict):
            for key in ("doorbots", "linked_doorbots", "data"):
                if isinstance(doc.get(key), list):
                    doc = doc[key]
                    break
        if not isinstance(doc, list):
            raise ResponseFormatError(f"linked doorbots of {self.name} are not a JSON array")
        return [item for item in doc if isinstance(item, dict)]
