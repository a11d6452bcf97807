"""How ``ringvault serve`` runs Data Portability for an app: its credentials plus the server-only knobs.

The app's settings are the client's (``RINGVAULT_PORTABILITY_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_REDIRECT_URI``,
brand, region, token directory; see ``ringvault.portability.config``). The server adds:

==============================================  =================================================================
``RINGVAULT_PORTABILITY_MAX_IMPORTS``            customers imported at the same time (default 4)
``RINGVAULT_PORTABILITY_RATE_LIMIT_PER``         ``customer`` (default) or ``app``: whose budget Ring counts the
                                                 API limits against (one limiter is shared by all customers)
``RINGVAULT_PORTABILITY_NOTIFICATION_SECRET``    optional: notifications are then accepted only at
                                                 ``/portability/notifications/<secret>/v1``
``RINGVAULT_PORTABILITY_CONFIRM_SUBSCRIPTIONS``  ``1`` (default): confirm SNS subscriptions whose SubscribeURL is
                                                 Amazon SNS's own, for a topic of the SNS regions below; ``0``: log
                                                 them only (``portability.notifications.subscribe_decision``)
``RINGVAULT_PORTABILITY_SNS_REGIONS``            regions whose SNS topics may be confirmed, comma-separated
                                                 (default: the app's region)
``RINGVAULT_PORTABILITY_POLL_AFTER_S``           a query not notified this long after its creation is polled
                                                 (default 900)
==============================================  =================================================================

No client id, secret or redirect URI at all means "portability off": the rest of the server runs and the portability
routes answer 503 saying what to set. Some of them but not all is a configuration error (the server refuses to start).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ringvault.portability.config import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    ENV_PREFIX,
    REDIRECT_URI_ENV,
    PortabilityConfig,
    PortabilityConfigError,
)
from ringvault.portability.endpoints import check_region

__all__ = ["CALLBACK_PATH", "NOTIFICATION_PATH", "PortabilityServerSettings"]

MAX_IMPORTS_ENV = ENV_PREFIX + "MAX_IMPORTS"
RATE_LIMIT_PER_ENV = ENV_PREFIX + "RATE_LIMIT_PER"
NOTIFICATION_SECRET_ENV = ENV_PREFIX + "NOTIFICATION_SECRET"
CONFIRM_SUBSCRIPTIONS_ENV = ENV_PREFIX + "CONFIRM_SUBSCRIPTIONS"
SNS_REGIONS_ENV = ENV_PREFIX + "SNS_REGIONS"
POLL_AFTER_ENV = ENV_PREFIX + "POLL_AFTER_S"

CALLBACK_PATH = "/portability/callback"
NOTIFICATION_PATH = "/portability/notifications/v1"
MIN_SECRET_LENGTH = 16
_SECRET_RE = re.compile(rf"[A-Za-z0-9._~-]{{{MIN_SECRET_LENGTH},256}}")


@dataclass(frozen=True)
class PortabilityServerSettings:
    """The app (``config``) and how the server schedules its customers' imports. ``repr`` hides the secrets."""

    config: PortabilityConfig
    max_concurrent: int = 4
    rate_limit_per: Literal["customer", "app"] = "customer"
    notification_secret: str | None = field(default=None, repr=False)
    confirm_subscriptions: bool = True
    #: regions whose SNS topics may be confirmed; empty: the app's region (``sns_regions``)
    subscription_regions: tuple[str, ...] = ()
    poll_after_s: float = 900.0
    #: how long a started Login with Ring may take (its sealed state expires then)
    login_ttl_s: float = 600.0
    #: how long an invitation stays valid when its maker does not say (72 hours)
    invite_ttl_s: float = 72 * 3600.0
    #: waits before a failed import (network, 5xx after the client's own retries) is tried again, from its stored
    #: state; all within the hour Ring allows for listing after its notification
    import_retry_s: tuple[float, ...] = (30.0, 60.0, 120.0, 240.0, 480.0)

    def __post_init__(self) -> None:
        if self.config.credentials.redirect_uri is None:
            raise PortabilityConfigError(f"missing Data Portability setting: {REDIRECT_URI_ENV}")
        if self.max_concurrent < 1:
            raise PortabilityConfigError(f"{MAX_IMPORTS_ENV} must be at least 1")
        if self.rate_limit_per not in ("customer", "app"):
            raise PortabilityConfigError(f"{RATE_LIMIT_PER_ENV} must be customer or app")
        secret = self.notification_secret
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise PortabilityConfigError(
                f"{NOTIFICATION_SECRET_ENV} must be at least {MIN_SECRET_LENGTH} URL-safe characters; generate one "
                "with `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"
            )
        if self.poll_after_s <= 0 or self.login_ttl_s <= 0 or self.invite_ttl_s <= 0:
            raise PortabilityConfigError("poll_after_s, login_ttl_s and invite_ttl_s must be positive")

    @property
    def sns_regions(self) -> tuple[str, ...]:
        """The regions whose SNS subscriptions are confirmed automatically."""
        return self.subscription_regions or (self.config.region,)

    @property
    def notification_path(self) -> str:
        """Where Ring must POST notifications (give Ring this path on the app's public URL)."""
        if self.notification_secret:
            return f"/portability/notifications/{self.notification_secret}/v1"
        return NOTIFICATION_PATH

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, cloud_url: str | None = None
    ) -> PortabilityServerSettings | None:
        """The settings from the environment; ``None`` when no Data Portability app is configured at all.

        ``cloud_url`` (the server's ``--cloud-url``) wins over ``RINGVAULT_CLOUD_URL``. Raises
        ``PortabilityConfigError`` (one line naming the variable) for a partial or invalid configuration.
        """
        env = os.environ if environ is None else environ
        if not any(env.get(name, "").strip() for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, REDIRECT_URI_ENV)):
            return None
        config = PortabilityConfig.from_env(env, require_redirect_uri=True)
        if cloud_url is not None:
            from dataclasses import replace

            config = replace(config, cloud_url=cloud_url)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        try:
            max_concurrent = int(get(MAX_IMPORTS_ENV) or 4)
            poll_after_s = float(get(POLL_AFTER_ENV) or 900.0)
        except ValueError as err:
            raise PortabilityConfigError(f"{MAX_IMPORTS_ENV} / {POLL_AFTER_ENV} must be numbers: {err}") from err
        per = (get(RATE_LIMIT_PER_ENV) or "customer").lower()
        if per not in ("customer", "app"):
            raise PortabilityConfigError(f"{RATE_LIMIT_PER_ENV} must be customer or app, not {per!r}")
        confirm = (get(CONFIRM_SUBSCRIPTIONS_ENV) or "1").lower() in ("1", "true", "yes", "on")
        try:
            sns_regions = tuple(check_region(r) for r in (get(SNS_REGIONS_ENV) or "").split(",") if r.strip())
        except ValueError as err:
            raise PortabilityConfigError(f"{SNS_REGIONS_ENV}: {err}") from err
        return cls(
            config=config,
            max_concurrent=max_concurrent,
            rate_limit_per="app" if per == "app" else "customer",
            notification_secret=get(NOTIFICATION_SECRET_ENV),
            confirm_subscriptions=confirm,
            subscription_regions=sns_regions,
            poll_after_s=poll_after_s,
        )
