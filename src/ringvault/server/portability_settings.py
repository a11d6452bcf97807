"""How ``ringvault serve`` runs Data Portability for an app: its credentials plus the server-only knobs.

The app's settings are the client's (``RINGVAULT_PORTABILITY_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_REDIRECT_URI``,
brand, region, token directory; see ``ringvault.portability.config``). The server adds:

==============================================  =================================================================
``RINGVAULT_PORTABILITY_MAX_IMPORTS``            customers imported at the same time by one process (default 4)
``RINGVAULT_PORTABILITY_RATE_LIMIT_PER``         ``app`` (default: seed 003 says the limits are "Your
                                                 Application's") or ``customer``: whose budget the API limits
                                                 count against (kept in the archive database, shared by every
                                                 process of the app)
``RINGVAULT_PORTABILITY_RECUR_EVERY``            a customer's next export this long after the last one was
                                                 imported, until Ring refuses the authorization (``1d`` default;
                                                 ``12h``, ``90m``, ``3600`` seconds; ``0`` or ``off``: no recurring
                                                 exports)
``RINGVAULT_PORTABILITY_NOTIFICATION_SECRET``    optional: notifications are then accepted only at
                                                 ``/portability/notifications/<secret>/v1``
``RINGVAULT_PORTABILITY_CONFIRM_SUBSCRIPTIONS``  ``1`` (default): confirm SNS subscriptions whose SubscribeURL is
                                                 Amazon SNS's own, for a topic of the SNS regions below; ``0``: log
                                                 them only (``portability.notifications.subscribe_decision``)
``RINGVAULT_PORTABILITY_SNS_REGIONS``            regions whose SNS topics may be confirmed, comma-separated
                                                 (default: the app's region)
``RINGVAULT_PORTABILITY_POLL_AFTER_S``           a query not notified this long after its creation is polled
                                                 (default 900)
``RINGVAULT_PORTABILITY_CREATE_WINDOW``          the window of the app's 20 createDataQuery calls (default
                                                 ``20m``, seed 003's); set it only if Ring's changes, or against a
                                                 simulator whose window is scaled down
``RINGVAULT_PORTABILITY_LISTING_WINDOW``         how long a COMPLETED query can be listed after its notification
                                                 (default ``1h``, seed 003's); the same caveat
==============================================  =================================================================

No client id, secret or redirect URI at all means "portability off": the rest of the server runs and the portability
routes answer 503 saying what to set. Some of them but not all is a configuration error (the server refuses to start).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from ringvault.portability.client import RESPONSE_TTL_S
from ringvault.portability.config import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    ENV_PREFIX,
    REDIRECT_URI_ENV,
    SNS_REGIONS_ENV,
    PortabilityConfig,
    PortabilityConfigError,
)
from ringvault.portability.config import sns_regions as parse_sns_regions
from ringvault.portability.limits import RateLimits

__all__ = ["CALLBACK_PATH", "NOTIFICATION_PATH", "PortabilityServerSettings"]

MAX_IMPORTS_ENV = ENV_PREFIX + "MAX_IMPORTS"
RATE_LIMIT_PER_ENV = ENV_PREFIX + "RATE_LIMIT_PER"
NOTIFICATION_SECRET_ENV = ENV_PREFIX + "NOTIFICATION_SECRET"
CONFIRM_SUBSCRIPTIONS_ENV = ENV_PREFIX + "CONFIRM_SUBSCRIPTIONS"
POLL_AFTER_ENV = ENV_PREFIX + "POLL_AFTER_S"
RECUR_EVERY_ENV = ENV_PREFIX + "RECUR_EVERY"
CREATE_WINDOW_ENV = ENV_PREFIX + "CREATE_WINDOW"
LISTING_WINDOW_ENV = ENV_PREFIX + "LISTING_WINDOW"

CALLBACK_PATH = "/portability/callback"
NOTIFICATION_PATH = "/portability/notifications/v1"
MIN_SECRET_LENGTH = 16
_SECRET_RE = re.compile(rf"[A-Za-z0-9._~-]{{{MIN_SECRET_LENGTH},256}}")


@dataclass(frozen=True)
class PortabilityServerSettings:
    """The app (``config``) and how the server schedules its customers' imports. ``repr`` hides the secrets."""

    config: PortabilityConfig
    max_concurrent: int = 4
    rate_limit_per: Literal["customer", "app"] = "app"
    notification_secret: str | None = field(default=None, repr=False)
    confirm_subscriptions: bool = True
    #: regions whose SNS topics may be confirmed; empty: the app's region (``sns_regions``)
    subscription_regions: tuple[str, ...] = ()
    #: a query not notified this long after its creation is checked with a records call (then at doubling waits,
    #: never more than a third of the listing window apart)
    poll_after_s: float = 900.0
    #: the next export of a customer this long after their last one was imported (None: no recurring exports)
    recur_every_s: float | None = 86400.0
    #: the app's API limits as the client keeps them (the documented ones; tests scale them down)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: how long Ring lets a COMPLETED query be listed after its notification (seed 003: one hour)
    listing_window_s: float = 3600.0
    #: how long Ring may answer the same records call with the same response (seed 003: five minutes, perhaps a
    #: QUERY_NOT_COMPLETED too): a COMPLETED notification that its records call did not confirm is checked again
    #: after this (plus 5 s)
    response_ttl_s: float = RESPONSE_TTL_S
    #: completed queries waiting to be listed beyond which no new query is created (imports first); None: as many as
    #: ``max_concurrent``
    create_backlog: int | None = None
    #: how long an export step waits in line for its create slot before it gives the slot back to the queue and is
    #: rescheduled for the slot's time instead
    max_create_wait_s: float = 1.0
    #: waits before a failed export (refused, 409 conflict, 429 after the client's retries, network) is tried again;
    #: the last one repeats: an export is never dropped while the authorization works
    export_retry_s: tuple[float, ...] = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
    #: how long a started Login with Ring may take (its sealed state expires then)
    login_ttl_s: float = 600.0
    #: how long an invitation stays valid when its maker does not say (72 hours)
    invite_ttl_s: float = 72 * 3600.0
    #: waits before a failed import (network, 5xx after the client's own retries) is tried again, from its stored
    #: state; the last one repeats until the listing window is over (then a new export replaces the query)
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
        if min(self.poll_after_s, self.login_ttl_s, self.invite_ttl_s, self.listing_window_s) <= 0:
            raise PortabilityConfigError("poll_after_s, login_ttl_s, invite_ttl_s, listing_window_s must be positive")
        if self.response_ttl_s < 0:
            raise PortabilityConfigError("response_ttl_s must not be negative")
        if self.recur_every_s is not None and self.recur_every_s <= 0:
            raise PortabilityConfigError(f"{RECUR_EVERY_ENV} must be positive (or 0/off for no recurring exports)")
        if not self.export_retry_s or not self.import_retry_s or min(*self.export_retry_s, *self.import_retry_s) < 0:
            raise PortabilityConfigError("export_retry_s and import_retry_s need at least one wait, none negative")

    @property
    def backlog_limit(self) -> int:
        """Completed queries waiting to be listed beyond which new exports wait (imports first)."""
        return self.create_backlog if self.create_backlog is not None else self.max_concurrent

    @property
    def poll_max_s(self) -> float:
        """The longest wait between two checks of a query not notified: a third of the listing window, so a query
        whose notification was lost is still listed with two thirds of its window left."""
        return min(3600.0, self.listing_window_s / 3)

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
            config = replace(config, cloud_url=cloud_url)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        try:
            max_concurrent = int(get(MAX_IMPORTS_ENV) or 4)
            poll_after_s = float(get(POLL_AFTER_ENV) or 900.0)
        except ValueError as err:
            raise PortabilityConfigError(f"{MAX_IMPORTS_ENV} / {POLL_AFTER_ENV} must be numbers: {err}") from err
        per = (get(RATE_LIMIT_PER_ENV) or "app").lower()
        if per not in ("customer", "app"):
            raise PortabilityConfigError(f"{RATE_LIMIT_PER_ENV} must be customer or app, not {per!r}")
        confirm = (get(CONFIRM_SUBSCRIPTIONS_ENV) or "1").lower() in ("1", "true", "yes", "on")
        subscription_regions = parse_sns_regions(get(SNS_REGIONS_ENV))
        rate_limits = RateLimits()
        create_window = get(CREATE_WINDOW_ENV)
        if create_window is not None:
            rate_limits = replace(rate_limits, create_window_s=_window(create_window, CREATE_WINDOW_ENV))
        listing_window = get(LISTING_WINDOW_ENV)
        return cls(
            config=config,
            max_concurrent=max_concurrent,
            rate_limit_per="app" if per == "app" else "customer",
            notification_secret=get(NOTIFICATION_SECRET_ENV),
            confirm_subscriptions=confirm,
            subscription_regions=subscription_regions,
            poll_after_s=poll_after_s,
            recur_every_s=parse_interval(get(RECUR_EVERY_ENV) or "1d", RECUR_EVERY_ENV),
            rate_limits=rate_limits,
            listing_window_s=3600.0 if listing_window is None else _window(listing_window, LISTING_WINDOW_ENV),
        )


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_interval(text: str, name: str) -> float | None:
    """``1d``, ``12h``, ``90m``, ``45s`` or plain seconds; ``0``/``off``/``never`` → None. ``PortabilityConfigError``
    naming ``name`` for anything else."""
    value = text.strip().lower()
    if value in ("0", "off", "never", "no", "false"):
        return None
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise PortabilityConfigError(
            f"{name} must be an interval such as 1d, 12h, 90m or 3600 (seconds), or 0/off; not {text!r}"
        )
    return seconds


def _window(text: str, name: str) -> float:
    """One of Ring's windows as an interval (``20m``, ``1h``, ``3s``); 0/off is refused: a window cannot be off."""
    seconds = parse_interval(text, name)
    if seconds is None:
        raise PortabilityConfigError(f"{name} must be an interval such as 20m, 1h or 3s; not {text!r}")
    return seconds
