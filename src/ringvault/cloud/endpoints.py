"""Ring's hosts and the one endpoint rule.

Every request ringvault sends to Ring is written as a real ``https://HOST/PATH`` URL. When a cloud URL is set
(``RINGVAULT_CLOUD_URL`` or ``--cloud-url``), ``resolve()`` rewrites it to ``{CLOUD_URL}/HOST/PATH``: this is how
users and tests point ringvault at the simulator. URLs that already start with the cloud URL are left alone.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlencode, urlsplit

CLOUD_URL_ENV = "RINGVAULT_CLOUD_URL"

OAUTH_HOST = "oauth.ring.com"
API_HOST = "api.ring.com"
APP_API_HOST = "prd-api-us.prd.rings.solutions"
LEGACY_APP_HOST = "app.ring.com"
SNAPS_HOST = "app-snaps.ring.com"

OAUTH_TOKEN_URL = f"https://{OAUTH_HOST}/oauth/token"
CLIENTS_API = f"https://{API_HOST}/clients_api"
DEVICES_API = f"https://{API_HOST}/devices/v1"
COMMANDS_API = f"https://{API_HOST}/commands/v1"
GROUPS_API = f"https://{API_HOST}/groups/v1"
APP_API = f"https://{APP_API_HOST}/api/v1"
SNAPS_API = f"https://{SNAPS_HOST}/snapshots"

CLIENT_ID = "ring_official_android"
USER_AGENT = "android:com.ringapp"
API_VERSION = 11


def clients_api(path: str) -> str:
    return f"{CLIENTS_API}/{path.lstrip('/')}"


def devices_api(path: str) -> str:
    return f"{DEVICES_API}/{path.lstrip('/')}"


def commands_api(path: str) -> str:
    return f"{COMMANDS_API}/{path.lstrip('/')}"


def groups_api(path: str) -> str:
    return f"{GROUPS_API}/{path.lstrip('/')}"


def app_api(path: str) -> str:
    return f"{APP_API}/{path.lstrip('/')}"


#: The hub WebSocket's ticket (reference §4.10, §7.2), asked of the app API per location.
HUB_TICKETS_PATH = "clap/tickets"
#: A host name (with an optional port) as a ticket may name it: nothing that could smuggle a path, user or scheme.
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?$")


def hub_tickets_params(location_id: str) -> dict[str, str]:
    """The query of ``clap/tickets`` as ring-client-api sends it."""
    return {"locationID": location_id, "enableExtendedEmergencyCellUsage": "true", "requestedTransport": "ws"}


def valid_host(host: str) -> bool:
    return bool(_HOST_RE.match(host))


def hub_socket_url(host: str, ticket: str) -> str:
    """``wss://{host}/ws?authcode={ticket}&ack=false`` (§7.3); the ticket is URL-encoded."""
    return f"wss://{host}/ws?" + urlencode({"authcode": ticket, "ack": "false"})


#: Live-view signalling (reference §9): the ticket (per stream, app API) and the socket's host.
SIGNALSOCKET_TICKET_PATH = "clap/ticket/request/signalsocket"
SIGNALLING_HOST = "api.prod.signalling.ring.devices.a2z.com"


SIGNALLING_SOCKET = f"wss://{SIGNALLING_HOST}/ws"


def signalling_url(ticket: str, client_id: str, *, base: str = SIGNALLING_SOCKET) -> str:
    """``wss://{SIGNALLING_HOST}/ws?api_version=4.0&auth_type=ring_solutions&client_id=…&token=…`` (§9.2). The
    reference writes the host with ``:443``, the default port of ``wss``: leaving it out names the same socket and
    keeps the CLOUD_URL rule's ``{cloud_url}/HOST/PATH`` free of a port in its path."""
    query = {"api_version": "4.0", "auth_type": "ring_solutions", "client_id": client_id, "token": ticket}
    return f"{base}?" + urlencode(query)


def websocket_url(url: str, cloud_url: str | None) -> str:
    """The endpoint rule for a ``wss://HOST/PATH`` URL: ``{cloud_url}/HOST/PATH`` with the cloud URL's scheme mapped
    to its WebSocket twin (``http`` → ``ws``, ``https`` → ``wss``)."""
    resolved = resolve(url, cloud_url)
    if resolved.startswith("https://"):
        return "wss://" + resolved[len("https://") :]
    if resolved.startswith("http://"):
        return "ws://" + resolved[len("http://") :]
    return resolved


def cloud_url_from_env() -> str | None:
    value = os.environ.get(CLOUD_URL_ENV, "").strip()
    return value or None


def normalize_cloud_url(cloud_url: str | None) -> str | None:
    """Validate and normalise a cloud URL (scheme and host required, no trailing slash)."""
    if cloud_url is None or not cloud_url.strip():
        return None
    value = cloud_url.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"cloud URL must look like http://127.0.0.1:8765, got {cloud_url!r}")
    return value


def resolve(url: str, cloud_url: str | None) -> str:
    """Apply the endpoint rule: ``https://HOST/PATH`` -> ``{cloud_url}/HOST/PATH`` when a cloud URL is set."""
    if cloud_url is None:
        return url
    if url.startswith(cloud_url + "/") or url == cloud_url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("https", "wss"):
        return url
    rest = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{cloud_url}/{parts.netloc}{rest}{query}"
