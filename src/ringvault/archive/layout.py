"""Where every archived file lives: a configurable, sanitized path template relative to the archive root.

The default recording path is::

    media/{location}/{device_slug}-{device_id}/{YYYY}/{MM}/{DD}/{stamp}-{kind}-{ding_id}.{ext}

and snapshots go under the device directory::

    media/{location}/{device_slug}-{device_id}/snapshots/{YYYY}/{MM}/{DD}/{stamp}-snapshot.{ext}

Guarantees:

- Templates are checked when a :class:`MediaLayout` is built: unknown placeholders, format specs, absolute
  templates, empty, ``.`` or ``..`` components and control characters are refused with a ``ValueError``.
- Every placeholder value is sanitized on its own (names through :func:`slugify`, ids and kinds reduced to
  ``[A-Za-z0-9_-]``), so a device or location name can never add a path separator, ``..`` or an absolute prefix.
- Paths are returned relative to the archive root; :func:`ensure_inside` joins one to the root and refuses any
  result that resolves outside it (also through a symlink).

Times are formatted in **UTC by default** (the archive is the same wherever it is read). ``time_zone="device"``
uses each device's IANA time zone (``DeviceRef.time_zone``, Ring's ``time_zone`` field; UTC when it is missing or
unknown), ``"local"`` the zone of the machine running ringvault, and any IANA name (``"Europe/Berlin"``) uses that
zone for every device. Naive datetimes are taken as UTC. ``ringvault sync`` defaults to ``"device"``: a clip recorded
at 8 pm at the front door is filed under 8 pm, whatever zone the archiving machine is in.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_SNAPSHOT_TEMPLATE",
    "DEFAULT_TEMPLATE",
    "PLACEHOLDERS",
    "TIME_ZONE_CHOICES",
    "DeviceRef",
    "MediaLayout",
    "ensure_inside",
    "parse_time_zone",
    "slugify",
]

DEFAULT_TEMPLATE = "media/{location}/{device_slug}-{device_id}/{YYYY}/{MM}/{DD}/{stamp}-{kind}-{ding_id}.{ext}"
DEFAULT_SNAPSHOT_TEMPLATE = (
    "media/{location}/{device_slug}-{device_id}/snapshots/{YYYY}/{MM}/{DD}/{stamp}-snapshot.{ext}"
)

#: Every placeholder a template may use.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "location",
        "location_id",
        "device_slug",
        "device_id",
        "YYYY",
        "MM",
        "DD",
        "hh",
        "mm",
        "ss",
        "stamp",
        "kind",
        "ding_id",
        "ext",
    }
)

_P = TypeVar("_P", PurePosixPath, Path)

#: What ``time_zone`` accepts besides an IANA name (case-insensitive).
TIME_ZONE_CHOICES = ("utc", "local", "device")

SLUG_MAX_LEN = 64
TOKEN_MAX_LEN = 64
#: Most file systems limit one path component to 255 bytes.
COMPONENT_MAX_BYTES = 255

#: Names Windows reserves for devices (with any extension); a slug equal to one gets a ``-x`` suffix.
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)
_FORBIDDEN_LITERAL = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')


def _slug_or_empty(name: str, max_len: int) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if len(slug) > max_len:
        # Keep long names distinct and stable: a prefix plus a short hash of the whole original name.
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        slug = slug[: max_len - len(digest) - 1].rstrip("-") + "-" + digest
    if slug in _WINDOWS_RESERVED:
        slug += "-x"
    return slug


def slugify(name: str | None, *, fallback: str = "unnamed", max_len: int = SLUG_MAX_LEN) -> str:
    """``name`` as a safe path component: ASCII-folded, lowercase, ``[a-z0-9-]``, single dashes, at most ``max_len``.

    The result is never empty (``fallback``), never ``.`` or ``..``, never a Windows device name (``con`` →
    ``con-x``), and stable: the same name always gives the same slug. Names longer than ``max_len`` keep a prefix and
    an 8-character hash of the full name, so two long names that differ only at the end stay distinct.
    """
    if max_len < 16:
        raise ValueError("max_len must be at least 16")
    slug = _slug_or_empty(name or "", max_len)
    if slug:
        return slug
    fallback_slug = _slug_or_empty(fallback, max_len)
    if not fallback_slug:
        raise ValueError(f"fallback {fallback!r} has no usable characters")
    return fallback_slug


def _token(value: object, *, lower: bool = False, max_len: int = TOKEN_MAX_LEN) -> str:
    """An id or kind as ``[A-Za-z0-9_-]`` (anything else becomes ``-``); empty when nothing usable is left."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    if lower:
        text = text.lower()
    token = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    if len(token) > max_len:
        digest = hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        token = token[: max_len - 9].rstrip("-") + "-" + digest
    return token


@dataclass(frozen=True)
class DeviceRef:
    """What the layout needs to know about a device: ids, names and (optionally) its IANA time zone."""

    device_id: int | str
    name: str | None
    location_id: str
    location_name: str | None = None
    time_zone: str | None = None


def parse_time_zone(name: str) -> tzinfo | None:
    """The zone a layout's ``time_zone`` names: ``utc``, ``local`` (this machine's zone, with its daylight saving
    rules), an IANA name, or ``None`` for ``device`` (each device's own zone). ``ValueError`` for anything else."""
    text = name.strip()
    lowered = text.lower()
    if lowered == "utc":
        return UTC
    if lowered == "device":
        return None
    if lowered == "local":
        import tzlocal

        try:
            return tzlocal.get_localzone()
        except (ZoneInfoNotFoundError, ValueError, LookupError) as err:
            raise ValueError(
                f"cannot tell this machine's time zone ({err}); pass an IANA name such as 'Europe/Berlin'"
            ) from err
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown time zone {name!r} (use 'utc', 'local', 'device' or an IANA name such as 'Europe/Berlin')"
        ) from err


def _parse_template(template: str, *, what: str, forbidden: frozenset[str] = frozenset()) -> list[str]:
    """Check ``template`` and split it into its path components."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if template.startswith("/") or re.match(r"^[A-Za-z]:", template) or template.startswith("~"):
        raise ValueError(f"{what} {template!r} must be relative to the archive root (no leading '/', '~' or drive)")
    if "\\" in template:
        raise ValueError(f"{what} {template!r}: use '/' to separate directories, not '\\'")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"{what} {template!r} is not a valid template: {err}") from err
    for literal, field, spec, conversion in parsed:
        if _FORBIDDEN_LITERAL.search(literal):
            raise ValueError(f"{what} {template!r} contains a character not allowed in file names: {literal!r}")
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            shown = "{" + field + "}" if field else "{}"
            raise ValueError(f"{what} {template!r}: unknown placeholder {shown}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(f"{what} {template!r}: format specs and conversions are not supported in {{{field}}}")
        if field in forbidden:
            raise ValueError(f"{what} {template!r}: {{{field}}} is not available here")
    components = template.split("/")
    for component in components:
        if component in ("", ".", ".."):
            raise ValueError(
                f"{what} {template!r}: empty, '.' or '..' path components are not allowed (got {component!r})"
            )
    return components


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _check_component(component: str) -> str:
    if component in ("", ".", "..") or "/" in component or "\\" in component or "\x00" in component:
        raise ValueError(f"unsafe path component {component!r}")
    if len(component.encode("utf-8")) > COMPONENT_MAX_BYTES:
        raise ValueError(f"path component longer than {COMPONENT_MAX_BYTES} bytes: {component[:40]!r}...")
    return component


def ensure_inside(root: str | Path, rel: str | PurePosixPath | Path) -> Path:
    """``root / rel`` resolved, or ``ValueError`` when ``rel`` is absolute, has ``..`` or resolves outside ``root``.

    Symlinks are followed, so a link inside the archive pointing elsewhere is refused too.
    """
    rel_path = PurePosixPath(rel) if isinstance(rel, str) else rel
    if rel_path.is_absolute() or Path(rel_path).anchor or str(rel_path).startswith("~"):
        raise ValueError(f"path {str(rel)!r} must be relative to the archive root")
    if ".." in rel_path.parts:
        raise ValueError(f"path {str(rel)!r} must not contain '..'")
    base = Path(root).resolve()
    target = (base / Path(*rel_path.parts)).resolve() if rel_path.parts else base
    if not target.is_relative_to(base):
        raise ValueError(f"path {str(rel)!r} resolves to {target}, outside the archive root {base}")
    return target


class MediaLayout:
    """Turns devices, events and capture times into archive paths following a configurable template.

    ``template`` is for event recordings, ``snapshot_template`` for snapshots (no ``{ding_id}`` there; ``{kind}`` is
    ``snapshot``). ``time_zone`` is ``"utc"`` (default), ``"device"`` (each device's zone, UTC if unknown),
    ``"local"`` (this machine's zone) or an IANA zone name. See the module docstring for the placeholders and
    guarantees.
    """

    def __init__(
        self,
        template: str = DEFAULT_TEMPLATE,
        *,
        snapshot_template: str = DEFAULT_SNAPSHOT_TEMPLATE,
        time_zone: str = "utc",
    ) -> None:
        self._components = _parse_template(template, what="media template")
        if "ding_id" not in _fields(template):
            raise ValueError(
                f"media template {template!r} must contain {{ding_id}}, so two events in the same second never collide"
            )
        self._snapshot_components = _parse_template(
            snapshot_template, what="snapshot template", forbidden=frozenset({"ding_id"})
        )
        snapshot_fields = _fields(snapshot_template)
        if "stamp" not in snapshot_fields and not {"hh", "mm", "ss"} <= snapshot_fields:
            raise ValueError(
                f"snapshot template {snapshot_template!r} must contain {{stamp}} (or {{hh}}, {{mm}} and {{ss}}), "
                "so snapshots taken at different times never collide"
            )
        if self._components[-1].lower().endswith(".json"):
            raise ValueError(
                f"media template {template!r} must not name .json files: the JSON sidecar beside each recording "
                "takes the recording's name with .json"
            )
        self.template = template
        self.snapshot_template = snapshot_template
        self._zone: tzinfo | None = parse_time_zone(time_zone)
        self.time_zone = time_zone

    # ------------------------------------------------------------------------------------------------ public API

    def zone_for(self, device: DeviceRef) -> tzinfo:
        """The time zone this layout formats ``device``'s times in."""
        if self._zone is not None:
            return self._zone
        if device.time_zone:
            try:
                return ZoneInfo(device.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                return UTC
        return UTC

    def local_time(self, device: DeviceRef, when: datetime) -> datetime:
        """``when`` in the zone used for paths (naive datetimes are UTC)."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return aware.astimezone(self.zone_for(device))

    def wall_clock_to_utc(self, device: DeviceRef, when: datetime) -> datetime:
        """A naive ``when`` read as a wall-clock time in ``device``'s zone (as paths show it), in UTC; an aware
        ``when`` is already an instant and only converted. How ``--since 2024-05-01`` means midnight on the device's
        clock under ``--timezone device`` and midnight UTC under ``--timezone utc``."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.zone_for(device))
        return when.astimezone(UTC)

    def recording_path(
        self, device: DeviceRef, *, created_at: datetime, kind: str, ding_id: int | str, ext: str = "mp4"
    ) -> PurePosixPath:
        """The relative path of an event's recording."""
        ding = _token(ding_id)
        if not ding:
            raise ValueError(f"ding id {ding_id!r} has no usable characters")
        values = self._values(device, created_at, ext)
        values["kind"] = _token(kind, lower=True) or "unknown"
        values["ding_id"] = ding
        return self._render(self._components, values)

    def snapshot_path(self, device: DeviceRef, captured_at: datetime, *, ext: str = "jpg") -> PurePosixPath:
        """The relative path of a snapshot captured at ``captured_at``."""
        values = self._values(device, captured_at, ext)
        values["kind"] = "snapshot"
        return self._render(self._snapshot_components, values)

    @staticmethod
    def sidecar_path(media_path: _P) -> _P:
        """The JSON sidecar beside ``media_path`` (same name, ``.json``)."""
        if media_path.suffix == ".json":
            raise ValueError(f"{media_path} is already a JSON file")
        return media_path.with_suffix(".json") if media_path.suffix else media_path.with_name(media_path.name + ".json")

    def device_dir_name(self, device: DeviceRef) -> str:
        """``{device_slug}-{device_id}``: the default device directory name."""
        return f"{slugify(device.name, fallback='device')}-{self._device_id(device)}"

    # ------------------------------------------------------------------------------------------------ internals

    @staticmethod
    def _device_id(device: DeviceRef) -> str:
        token = _token(device.device_id)
        if not token:
            raise ValueError(f"device id {device.device_id!r} has no usable characters")
        return token

    def _values(self, device: DeviceRef, when: datetime, ext: str) -> dict[str, str]:
        local = self.local_time(device, when)
        location_id = _token(device.location_id) or "unknown-location"
        location = _slug_or_empty(device.location_name or "", SLUG_MAX_LEN) or location_id
        extension = _token(ext, lower=True).replace("-", "").replace("_", "")
        if not extension:
            raise ValueError(f"file extension {ext!r} has no usable characters")
        return {
            "location": location,
            "location_id": location_id,
            "device_slug": slugify(device.name, fallback="device"),
            "device_id": self._device_id(device),
            "YYYY": f"{local.year:04d}",
            "MM": f"{local.month:02d}",
            "DD": f"{local.day:02d}",
            "hh": f"{local.hour:02d}",
            "mm": f"{local.minute:02d}",
            "ss": f"{local.second:02d}",
            "stamp": local.strftime("%Y%m%d-%H%M%S"),
            "ext": extension,
        }

    @staticmethod
    def _render(components: list[str], values: dict[str, str]) -> PurePosixPath:
        parts = [_check_component(component.format_map(values)) for component in components]
        return PurePosixPath(*parts)
