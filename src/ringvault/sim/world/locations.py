"""Per-location state: the location's name and mode, Smart Lighting groups (groups/v1), and one-time tickets."""

from __future__ import annotations

import hashlib

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import JSON, LightGroup, Location

#: Unredeemed tickets kept at most; the oldest go first (a client that asks for tickets and never connects must not
#: grow the simulator's memory without bound). Far above any real use: a ticket is redeemed within seconds.
MAX_OPEN_TICKETS = 10_000


class WorldLocations(WorldBase):
    """Location-level changes and lookups."""

    def rename_location(self, location_id: str, name: str) -> JSON | None:
        """``PATCH /_sim/locations/{id}``: a location's name (the owner chooses it; a shared location shows it to
        every user)."""
        with self._lock:
            location = self.location(location_id)
            if location is None:
                return None
            location.name = name
            return location.user_location(self.user_id)

    def set_mode(self, location_id: str, mode: str) -> Location | None:
        with self._lock:
            location = self.location(location_id)
            if location is not None:
                location.mode = mode
                location.mode_updated_ms = self.clock.now_ms()
            return location

    def group(self, location_id: str, group_id: str) -> LightGroup | None:
        with self._lock:
            return next((g for g in self.groups if g.location_id == location_id and g.id == group_id), None)

    def groups_at(self, location_id: str) -> list[LightGroup]:
        with self._lock:
            return [g for g in self.groups if g.location_id == location_id]

    def set_group_lights(self, group: LightGroup, on: bool, duration_s: float | None) -> None:
        with self._lock:
            if on:
                group.lights_on_until = self.clock.now() + (duration_s if duration_s else 24 * 3600.0)
            else:
                group.lights_on_until = 0.0

    def group_lights_on(self, group: LightGroup) -> bool:
        return self.clock.now() < group.lights_on_until

    def issue_ticket(self, purpose: str, location_id: str | None) -> str:
        """A one-time ticket (hub WebSocket or live-view signalling); ``consume_ticket`` redeems it once."""
        with self._lock:
            self._ticket_counter += 1
            material = self.s3_secret + f"{purpose}-{self._ticket_counter}-{self.clock.now()}".encode()
            ticket = hashlib.sha256(material).hexdigest()[:40]
            self.tickets[ticket] = {"purpose": purpose, "location_id": location_id, "issued_at": self.clock.now()}
            while len(self.tickets) > MAX_OPEN_TICKETS:
                del self.tickets[next(iter(self.tickets))]  # dicts keep insertion order: the oldest ticket
            return ticket

    def consume_ticket(self, ticket: str) -> JSON | None:
        """The ticket's details, once; None for unknown or already used tickets."""
        with self._lock:
            return self.tickets.pop(ticket, None)
