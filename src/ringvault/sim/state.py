"""The simulator's shared state: one object per running simulated cloud.

Routers reach it through ``request.app.state.sim`` (see ``ringvault.sim.deps.get_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ringvault.sim.auth import AuthService
from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.faults import FaultEngine
from ringvault.sim.hub.service import HubService
from ringvault.sim.media import MediaStore
from ringvault.sim.portability.service import PortabilityService
from ringvault.sim.push.service import PushService
from ringvault.sim.stats import RequestStats
from ringvault.sim.world import World

if TYPE_CHECKING:
    from ringvault.sim.live.service import LiveService


@dataclass
class SimState:
    config: SimConfig
    clock: SimClock
    world: World
    auth: AuthService
    faults: FaultEngine
    stats: RequestStats
    media: MediaStore
    portability: PortabilityService
    hub: HubService
    push: PushService
    live: LiveService

    def __post_init__(self) -> None:
        self.hub.notify = self._hub_notice

    def _hub_notice(self, location_id: str, kind: str, device_zid: str | None) -> None:
        """An alarm notice for a change on a location's hub (arming, disarming, a siren): pushed to every
        registration like ``POST /_sim/locations/{id}/alarm`` does."""
        from ringvault.sim.push import notifications

        pushes = notifications.push_alarm(self, location_id, kind, device_zid)
        self.push.record_event({"event": None, "kind": f"alarm_{kind}", "pushes": pushes, "source": "hub"})

    @classmethod
    def build(cls, config: SimConfig, clock: SimClock | None = None, *, push: PushService | None = None) -> SimState:
        """A fresh simulated cloud; ``push`` carries Google's side (check-ins, registrations, MCS outboxes) over a
        reset, since resetting Ring's world does not reset Google."""
        from ringvault.sim.live.service import LiveService  # aiortc loads only with a simulator

        clock = clock or SimClock()
        media = MediaStore(config)
        world = World.generate(config, clock)
        return cls(
            config=config,
            clock=clock,
            world=world,
            auth=AuthService(config, clock),
            faults=FaultEngine(config, clock),
            stats=RequestStats(),
            media=media,
            portability=PortabilityService(config, clock, world),
            hub=HubService(config, clock, world),
            push=push or PushService(config),
            live=LiveService(config, clock, world),
        )
