"""``RingIntercom``: Ring Intercom (audio and video handsets) from the ``other`` family."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ringvault.cloud.camera import HISTORY_PAGE_MAX, ding_id_string
from ringvault.cloud.device import DeviceBase
from ringvault.cloud.endpoints import clients_api, commands_api
from ringvault.cloud.errors import ResponseFormatError, RingError
from ringvault.cloud.models.base import to_int
from ringvault.cloud.models.devices import IntercomEntry
from ringvault.cloud.models.events import HistoryItem
from ringvault.cloud.models.health import DeviceHealth
from ringvault.cloud.push.streams import IntercomNotifications

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp
    from ringvault.cloud.options import RingApiOptions

__all__ = ["IntercomUnlockError", "RingIntercom"]


class IntercomUnlockError(RingError):
    """Ring accepted the unlock request but the intercom reported a failure (``result.code != 0``)."""

    hint = "Check that the intercom is online and try again."


class RingIntercom(IntercomNotifications, DeviceBase[IntercomEntry]):
    """A Ring Intercom: unlock the door, read health, history and settings; ``on_ding`` / ``on_unlocked`` once
    ``RingApi.start_notifications()`` runs."""

    def __init__(self, entry: IntercomEntry, family: str, http: RingHttp, options: RingApiOptions) -> None:
        super().__init__(entry, family, http, options)
        self._init_notifications()

    @property
    def battery_level(self) -> int | None:
        value = self.data.battery_life
        return None if value is None else max(0, min(100, value))

    @property
    def unlock_duration_s(self) -> int | None:
        """How long the door stays unlocked (from ``intercom_settings.config``, JSON inside a string)."""
        return self.data.settings.unlock_duration_s if self.data.settings is not None else None

    async def unlock(self, *, door_id: int = 0, user_id: int = 0) -> dict[str, Any]:
        """Open the door (``commands/v1/devices/{id}/device_rpc``); raises unless Ring answers ``result.code == 0``."""
        body = {
            "command_name": "device_rpc",
            "request": {
                "id": str(uuid.uuid4()),
                "jsonrpc": "2.0",
                "method": "unlock_door",
                "params": {"door_id": door_id, "user_id": user_id},
            },
        }
        doc = await self._http.request_json("PUT", commands_api(f"devices/{self.id}/device_rpc"), json=body)
        result = doc.get("result") if isinstance(doc, dict) else None
        code = to_int(result.get("code")) if isinstance(result, dict) else None
        if code != 0:
            raise IntercomUnlockError(f"{self.name} did not unlock (result code {code if code is not None else '?'})")
        return doc if isinstance(doc, dict) else {}

    async def get_health(self) -> DeviceHealth:
        doc = await self._http.request_json("GET", clients_api(f"doorbots/{self.id}/health"))
        return DeviceHealth.model_validate(doc)

    async def get_history(
        self, limit: int = HISTORY_PAGE_MAX, older_than: str | int | None = None
    ) -> list[HistoryItem]:
        """Intercom events (dings, unlocks) from ``doorbots/{id}/history``, newest first."""
        params: dict[str, Any] = {"limit": max(1, min(limit, HISTORY_PAGE_MAX))}
        if older_than is not None:
            params["older_than"] = ding_id_string(older_than)
        doc = await self._http.request_json("GET", clients_api(f"doorbots/{self.id}/history"), params=params)
        if not isinstance(doc, list):
            raise ResponseFormatError(f"history of {self.name} is not a JSON array")
        return [HistoryItem.model_validate(item) for item in doc if isinstance(item, dict)]

    async def subscribe_to_dings(self) -> None:
        await self._http.request("POST", clients_api(f"doorbots/{self.id}/subscribe"))
        self._patch_local({"subscribed": True})

    async def unsubscribe_from_dings(self) -> None:
        await self._http.request("POST", clients_api(f"doorbots/{self.id}/unsubscribe"))
        self._patch_local({"subscribed": False})
