"""The Home Assistant bridge: every Ring device and event on an MQTT broker, with MQTT discovery.

``model`` is the contract (devices, entities, topics, discovery payloads; the ``Sink`` and ``Family`` protocols),
``options`` the settings. See README.md ("Home Assistant over MQTT") for the topic tree and the entities.
"""

from ringvault.mqtt.model import (
    ArchiveLinks,
    BridgeContext,
    CommandRejected,
    Entity,
    Family,
    MqttDevice,
    RecordingLink,
    Sink,
    Topics,
    segment,
)
from ringvault.mqtt.options import BridgeOptions, BrokerUrl, BrokerUrlError

__all__ = [
    "ArchiveLinks",
    "BridgeContext",
    "BridgeOptions",
    "BrokerUrl",
    "BrokerUrlError",
    "CommandRejected",
    "Entity",
    "Family",
    "MqttDevice",
    "RecordingLink",
    "Sink",
    "Topics",
    "segment",
]
