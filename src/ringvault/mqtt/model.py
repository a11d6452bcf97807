"""What the MQTT bridge publishes, and the contract between the bridge and the device families.

A **family** (cameras, chimes, alarm, lights ...) turns Ring's model objects into ``MqttDevice``s, each with its
``Entity``s. An entity does not hold its state: ``Entity.read()`` computes the state payload from the Ring object
(``camera.data``, ``hub_device.data`` ...) every time, so what is published is always Ring's truth. When a Ring
object changes (a ``Signal`` of the cloud client fired, a hold time ran out ...) the family calls
``sink.changed(device)``; the bridge then re-reads every entity of that device and publishes, retained, the payloads
that differ from what the broker holds. After a command (``Entity.command``) the bridge does the same, so a command
that Ring refused shows Ring's state again rather than the one asked for.

Topic tree (stable: ids, never names, so renaming a device in the Ring app changes no topic)::

    <base>/status                                      bridge availability ("online"/"offline", retained, Last-Will)
    <base>/<location>/<device>/status                  device availability (retained)
    <base>/<location>/<device>/<entity>/state          entity state (retained; an ``event`` entity's is not)
    <base>/<location>/<device>/<entity>/set            commands (subscribed)
    <base>/<location>/<device>/<entity>/attributes     JSON attributes (retained)
    <base>/<location>/<device>/events                  the device's Ring events, JSON, not retained, QoS 1
    <discovery>/<component>/<node_id>/<entity>/config  Home Assistant discovery (retained)

``<location>`` is the Ring location id (``bridge`` for the bridge's own device), ``<device>`` the device id (camera,
chime, intercom: Ring's numeric id; hub devices: their zid). Segments are reduced to ``[A-Za-z0-9_-]`` (a hash keeps
reduced ones apart), so a hostile id can never add a level or a wildcard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ringvault.mqtt.settings import BridgeSettings

if TYPE_CHECKING:
    from ringvault.archive.follow import EventWatch
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.options import BridgeOptions

__all__ = [
    "ArchiveLinks",
    "BridgeContext",
    "CommandRejected",
    "Entity",
    "EntityCategory",
    "Family",
    "MqttDevice",
    "RecordingLink",
    "Sink",
    "StatePayload",
    "Topics",
    "segment",
]

StatePayload = str | bytes | None
"""What ``Entity.read`` returns: the state payload (``bytes`` for an image), or None when unknown (nothing is
published then, and what the broker held stays)."""

EntityCategory = Literal["config", "diagnostic"]

_SEGMENT_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEY_OK = re.compile(r"[a-z0-9_]{1,48}")


def segment(value: object) -> str:
    """A topic level (and discovery node id part) for an id: ``[A-Za-z0-9_-]``, at most 64 characters. An id that
    had to be changed gets a short hash of the original, so two ids reduced alike stay apart."""
    text = str(value)
    if _SEGMENT_OK.fullmatch(text):
        return text
    reduced = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:48] or "id"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{reduced}_{digest}"


class CommandRejected(Exception):
    """A ``set`` payload that cannot be carried out (malformed, unknown option, out of range). Its message is the one
    log line: what was wrong and what is accepted. The bridge logs it and republishes the true state."""


@dataclass(eq=False)
class Entity:
    """One Home Assistant entity.

    - ``component``: Home Assistant's MQTT component (``binary_sensor``, ``sensor``, ``switch``, ``light`` ...);
    - ``key``: the entity's id within its device (``[a-z0-9_]``): topic level and discovery object id;
    - ``name``: the entity's name in Home Assistant (None: the device's name alone, for a device's main entity);
    - ``read``: the current state payload, from Ring's object (None while unknown); None for command-only entities
      (``button``);
    - ``command``: handles a payload received on ``.../set`` (raise ``CommandRejected`` for bad input; return once
      Ring confirmed the new state, e.g. after re-reading it — the bridge republishes ``read()`` afterwards);
    - ``attributes``: JSON attributes (published retained on ``.../attributes``);
    - ``options``: the component's own discovery keys (``device_class``, ``payload_on``, ``options``, ``min`` ...),
      never topics: the bridge adds those;
    - ``state_key``: the discovery key that names the state topic (``state_topic``; ``image_topic`` for an image);
    - ``command_key``: the discovery key that names the command topic (``command_topic``);
    - ``state_keys``/``command_keys``: further discovery keys naming the same state/command topic, for a component
      that reads several values from one JSON state through templates and sends several commands (``climate``: mode,
      temperatures, fan mode and action from one state, every command to one topic as JSON through its
      ``*_command_template``);
    - ``retain``: whether the state is retained (False for ``event`` entities, whose state is a trigger).
    """

    component: str
    key: str
    name: str | None
    read: Callable[[], StatePayload] | None = None
    command: Callable[[str], Awaitable[None]] | None = None
    attributes: Callable[[], Mapping[str, Any] | None] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    category: EntityCategory | None = None
    icon: str | None = None
    state_key: str = "state_topic"
    command_key: str = "command_topic"
    state_keys: tuple[str, ...] = ()
    command_keys: tuple[str, ...] = ()
    retain: bool = True
    device: MqttDevice | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _KEY_OK.fullmatch(self.key):
            raise ValueError(f"entity key {self.key!r} must match [a-z0-9_]{{1,48}}")
        for topic_key in (self.state_key, self.command_key, *self.state_keys, *self.command_keys):
            if not topic_key.endswith("_topic"):
                raise ValueError(f"entity {self.key}: {topic_key!r} does not name a topic")


@dataclass(eq=False)
class MqttDevice:
    """One device in Home Assistant: a Ring device (or the bridge), with its entities.

    ``location``/``ident`` make its topics (see the module docstring); ``available()`` answers its availability
    (None: always available while the bridge is). ``via`` is the device it is reached through (the bridge, a base
    station ...)."""

    location: str
    ident: str
    name: str
    model: str | None = None
    manufacturer: str = "Ring"
    sw_version: str | None = None
    area: str | None = None
    via: MqttDevice | None = field(default=None, repr=False)
    available: Callable[[], bool] | None = None
    entities: list[Entity] = field(default_factory=list)

    def add(self, entity: Entity) -> Entity:
        if any(e.key == entity.key for e in self.entities):
            raise ValueError(f"device {self.ident} already has an entity {entity.key!r}")
        entity.device = self
        self.entities.append(entity)
        return entity

    def entity(self, key: str) -> Entity:
        for entity in self.entities:
            if entity.key == key:
                return entity
        raise KeyError(key)


@dataclass(frozen=True)
class Topics:
    """Every topic and discovery payload of a bridge (``base``: its topic prefix; ``discovery``: Home Assistant's
    discovery prefix)."""

    base: str = "ringvault"
    discovery: str = "homeassistant"

    @property
    def status(self) -> str:
        """The bridge's availability (its Last-Will sets ``offline``)."""
        return f"{self.base}/status"

    @property
    def birth(self) -> str:
        """Home Assistant's birth message (``online`` when it (re)starts: everything is published again)."""
        return f"{self.discovery}/status"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/+/+/+/set"

    def root(self, device: MqttDevice) -> str:
        return f"{self.base}/{segment(device.location)}/{segment(device.ident)}"

    def availability(self, device: MqttDevice) -> str:
        return f"{self.root(device)}/status"

    def events(self, device: MqttDevice) -> str:
        return f"{self.root(device)}/events"

    def _entity(self, entity: Entity) -> str:
        assert entity.device is not None, "an entity is published only once added to a device"
        return f"{self.root(entity.device)}/{entity.key}"

    def state(self, entity: Entity) -> str:
        return f"{self._entity(entity)}/state"

    def command(self, entity: Entity) -> str:
        return f"{self._entity(entity)}/set"

    def attributes(self, entity: Entity) -> str:
        return f"{self._entity(entity)}/attributes"

    def node_id(self, device: MqttDevice) -> str:
        return f"{segment(self.base)}_{segment(device.location)}_{segment(device.ident)}"

    def unique_id(self, entity: Entity) -> str:
        assert entity.device is not None
        return f"{self.node_id(entity.device)}_{entity.key}"

    def config(self, entity: Entity) -> str:
        assert entity.device is not None
        return f"{self.discovery}/{entity.component}/{self.node_id(entity.device)}/{entity.key}/config"

    def parse_command(self, topic: str) -> tuple[str, str, str] | None:
        """``(location segment, device segment, entity key)`` of a ``.../set`` topic of this bridge, else None."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 4 or parts[3] != "set" or not all(parts[:3]):
            return None
        return parts[0], parts[1], parts[2]

    def device_block(self, device: MqttDevice) -> dict[str, Any]:
        """Home Assistant's ``device`` block: groups a device's entities."""
        block: dict[str, Any] = {
            "identifiers": [self.node_id(device)],
            "name": device.name,
            "manufacturer": device.manufacturer,
        }
        if device.model:
            block["model"] = device.model
        if device.sw_version:
            block["sw_version"] = device.sw_version
        if device.area:
            block["suggested_area"] = device.area
        if device.via is not None:
            block["via_device"] = self.node_id(device.via)
        return block

    def discovery_payload(self, entity: Entity, origin: Mapping[str, Any]) -> dict[str, Any]:
        """The retained ``.../config`` document of an entity: the bridge's and the device's availability (both must
        be online), its topics, its device block and ``origin``."""
        device = entity.device
        assert device is not None
        payload: dict[str, Any] = {
            "name": entity.name,
            "unique_id": self.unique_id(entity),
            "device": self.device_block(device),
            "origin": dict(origin),
            "availability": [{"topic": self.status}, {"topic": self.availability(device)}],
            "availability_mode": "all",
        }
        if entity.read is not None:
            for key in (entity.state_key, *entity.state_keys):
                payload[key] = self.state(entity)
        if entity.command is not None:
            for key in (entity.command_key, *entity.command_keys):
                payload[key] = self.command(entity)
        if entity.attributes is not None:
            payload["json_attributes_topic"] = self.attributes(entity)
        if entity.category is not None:
            payload["entity_category"] = entity.category
        if entity.icon is not None:
            payload["icon"] = entity.icon
        for key, value in entity.options.items():
            if key.endswith("_topic"):
                raise ValueError(f"entity {entity.key}: topics are the bridge's to set, not {key!r}")
            payload[key] = value
        return payload


@dataclass(frozen=True)
class RecordingLink:
    """Where the archive keeps a recording: its file and, when ``serve`` runs, its URL (``/timeline/{id}``)."""

    event_id: str
    path: str | None
    url: str | None


class ArchiveLinks(Protocol):
    """The archive as the bridge sees it (None in ``BridgeContext`` when the bridge runs without an archive)."""

    def recording(self, event_id: str) -> RecordingLink | None:
        """The archived recording of a Ring event (ding id), None while it is not archived."""
        ...

    def latest(self, device_id: int) -> RecordingLink | None:
        """The newest archived recording of a camera."""
        ...


class Sink(Protocol):
    """What families call; all calls are synchronous and cheap (the bridge queues, a task publishes), so they can be
    made from the cloud client's ``Signal`` callbacks."""

    def changed(self, device: MqttDevice) -> None:
        """Re-read every entity (state, attributes) and the availability of ``device``; publish what differs."""
        ...

    def fire(self, entity: Entity, event_type: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Trigger a Home Assistant ``event`` entity: ``{"event_type": ..., **attributes}`` on its state topic, not
        retained (``event_type`` must be one of its ``event_types``)."""
        ...

    def event(self, device: MqttDevice, payload: Mapping[str, Any]) -> None:
        """Publish on the device's ``events`` topic: JSON, not retained, QoS 1, queued (bounded) while the broker is
        away and delivered once it is back — never dropped silently."""
        ...

    def add_device(self, device: MqttDevice) -> None:
        """A device that appeared after the start (a new hub device ...): publish its discovery and states."""
        ...


@dataclass
class BridgeContext:
    """What a family gets: the logged-in API, the options, the sink, the event watch (``on_archived`` tells which
    recordings reached the archive) and the archive (None without one); ``bridge`` is the bridge's own device (the
    ``via`` of top-level Ring devices); ``settings`` keeps what a user sets that Ring does not (bypass modes,
    snooze lengths, light durations) across restarts."""

    api: RingApi
    options: BridgeOptions
    sink: Sink
    bridge: MqttDevice
    watch: EventWatch | None = None
    archive: ArchiveLinks | None = None
    settings: BridgeSettings = field(default_factory=BridgeSettings)


class Family(Protocol):
    """One device family: builds its devices at ``start`` (and subscribes to the Ring objects' signals), hears every
    Ring event once (``on_event``: push, polling or catch-up), and stops its tasks and subscriptions at ``aclose``."""

    name: str

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]: ...

    def on_event(self, event: RingEvent) -> None: ...

    async def aclose(self) -> None: ...
