"""Locations (``devices/v1/locations``), the profile (``clients_api/profile``) and location modes (app API)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BeforeValidator, Field

from ringvault.cloud.models.base import (
    LooseBool,
    LooseDatetime,
    LooseDict,
    LooseFloat,
    LooseIdInt,
    LooseList,
    LooseStr,
    RingModel,
    sub_model,
)

__all__ = ["GeoCoordinates", "LocationAddress", "LocationMode", "Profile", "UserLocation"]


class GeoCoordinates(RingModel):
    """``geo_coordinates``; Ring sends the numbers as strings or numbers."""

    latitude: LooseFloat = None
    longitude: LooseFloat = None


class LocationAddress(RingModel):
    """A location's postal address and time zone."""

    address1: LooseStr = None
    address2: LooseStr = None
    cross_street: LooseStr = None
    city: LooseStr = None
    state: LooseStr = None
    zip_code: LooseStr = None
    country: LooseStr = None
    timezone: LooseStr = None


class UserLocation(RingModel):
    """One entry of ``GET /devices/v1/locations`` (``user_locations``)."""

    location_id: LooseStr = None
    name: LooseStr = None
    owner_id: LooseStr = None
    created_at: LooseDatetime = None
    updated_at: LooseDatetime = None
    user_verified: LooseBool = None
    geo_service_verified: LooseStr = None
    geo_coordinates: Annotated[GeoCoordinates | None, BeforeValidator(sub_model)] = None
    address: Annotated[LocationAddress | None, BeforeValidator(sub_model)] = None

    @property
    def timezone(self) -> str | None:
        return self.address.timezone if self.address is not None else None


class Profile(RingModel):
    """The account profile (``{"profile":{…}}``, wrapper optional). ``authentication_token`` is never shown in repr."""

    id: LooseIdInt = None
    email: LooseStr = None
    first_name: LooseStr = None
    last_name: LooseStr = None
    phone_number: LooseStr = None
    authentication_token: LooseStr = Field(None, repr=False)
    hardware_id: LooseStr = None
    features: LooseDict = None
    user_preferences: LooseDict = None
    user_flow: LooseStr = None
    app_brand: LooseStr = None
    country: LooseStr = None
    status: LooseStr = None
    created_at: LooseDatetime = None
    tfa_enabled: LooseBool = None
    tfa_phone_number: LooseStr = None
    account_type: LooseStr = None

    _wrapper_key: ClassVar[str | None] = "profile"


class LocationMode(RingModel):
    """``GET/POST mode/location/{loc}``: ``home``/``away``/``disarmed``, or ``disabled``/``unset`` when off."""

    mode: LooseStr = None
    last_update: LooseDatetime = Field(None, alias="lastUpdateTimeMS")
    read_only: LooseBool = Field(None, alias="readOnly")
    security_status: LooseDict = Field(None, alias="securityStatus")
    not_yet_participating: LooseList = Field(default_factory=list, alias="notYetParticipatingInMode")

    @property
    def is_switchable(self) -> bool:
        """rca's rule: modes can be switched when not read-only and neither ``disabled`` nor ``unset``."""
        return not self.read_only and (self.mode or "") not in ("disabled", "unset", "")

    @property
    def last_update_ms(self) -> int | None:
        value = self.raw.get("lastUpdateTimeMS")
        return value if isinstance(value, int) and not isinstance(value, bool) else None
