"""Options of ``RingApi`` (seed 000's options, in Python style) and of the HTTP layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ringvault.cloud.endpoints import USER_AGENT, cloud_url_from_env, normalize_cloud_url


@dataclass
class RingApiOptions:
    """How ``RingApi`` behaves.

    - ``camera_status_polling_seconds``: poll ``ring_devices`` this often and push new data to ``camera.on_data``
      (None = no polling).
    - ``location_mode_polling_seconds``: poll location modes this often (None = no polling).
    - ``location_ids``: limit locations (and cameras) to these ids.
    - ``control_center_display_name``: the name shown in Ring app -> Control Center -> Authorized Client Devices.
    - ``avoid_snapshot_battery_drain``: battery cameras are snapshotted at most every 10 minutes.
    - ``debug``: log requests (secrets are always redacted).
    - ``cloud_url``: send Ring traffic to ``{cloud_url}/HOST/PATH`` (a simulator); defaults to ``RINGVAULT_CLOUD_URL``.
    """

    camera_status_polling_seconds: float | None = None
    location_mode_polling_seconds: float | None = None
    location_ids: Sequence[str] | None = None
    control_center_display_name: str = "ringvault"
    avoid_snapshot_battery_drain: bool = False
    debug: bool = False
    cloud_url: str | None = field(default_factory=cloud_url_from_env)
    user_agent: str = USER_AGENT
    # HTTP layer
    timeout_s: float = 20.0
    media_timeout_s: float = 120.0
    max_retries: int = 5
    connect_retries: int = 2  # a refused connection or failed DNS lookup rarely heals in seconds
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0
    requests_per_second: float | None = None

    def __post_init__(self) -> None:
        self.cloud_url = normalize_cloud_url(self.cloud_url)
