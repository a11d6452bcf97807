"""Finding what a command acts on from what the user typed: a device, a hub device, a light or a location.

Every lookup follows the rule of ``RingApi.find_device``: an id first, then a name (case-insensitive), then a
unique part of a name. A miss or an ambiguity is a ``RingError`` whose one line names the candidates, so the
command ends with one ``error:`` line (exit 4 for a miss, 1 for an ambiguity) like every other lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.location import AnyDevice, Location

T = TypeVar("T")

#: Names listed in one error line at most (the line stays readable with hundreds of sensors).
MAX_LISTED = 12


def names_line(names: Iterable[str]) -> str:
    """``"A", "B", "C"`` (sorted, at most ``MAX_LISTED``, then how many more)."""
    unique = sorted(set(names), key=str.casefold)
    shown = ", ".join(f'"{n}"' for n in unique[:MAX_LISTED])
    more = len(unique) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "") if unique else "none"


def matches(items: Sequence[T], query: str, *, ids: Callable[[T], Iterable[str]], name: Callable[[T], str]) -> list[T]:
    """The items ``query`` names: those with that id, else that name (case-insensitive), else whose name holds it."""
    wanted = query.strip()
    by_id = [item for item in items if wanted in {str(i) for i in ids(item)}]
    if by_id:
        return by_id
    folded = wanted.casefold()
    exact = [item for item in items if name(item).casefold() == folded]
    if exact:
        return exact
    return [item for item in items if folded and folded in name(item).casefold()]


def pick(
    items: Sequence[T],
    query: str,
    *,
    ids: Callable[[T], Iterable[str]],
    name: Callable[[T], str],
    what: str,
    describe: Callable[[T], str] | None = None,
    listing: str = "",
) -> T:
    """The one item ``query`` names; ``DeviceNotFoundError`` listing the names, or ``AmbiguousDeviceError``
    naming the candidates."""
    from ringvault.cloud.api import AmbiguousDeviceError
    from ringvault.cloud.errors import DeviceNotFoundError

    found = matches(items, query, ids=ids, name=name)
    if len(found) == 1:
        return found[0]
    shown = describe or (lambda item: f'"{name(item)}"')
    if found:
        raise AmbiguousDeviceError(
            f"{query!r} matches {len(found)} {what}s: {', '.join(shown(item) for item in found)}",
            hint="Give the whole name or the id.",
        )
    raise DeviceNotFoundError(
        f"no {what} {query!r}; the {what}s are {names_line(name(item) for item in items)}",
        hint=listing,
    )


def pick_location(
    locations: Sequence[Location], query: str | None, *, what: str | None = None, among: str = ""
) -> Location:
    """The location named by ``--location`` (id or name), or the only one of ``locations`` when none was given.

    ``what`` names the feature the locations were chosen for ("a Ring Alarm"; None: every location), ``among`` how
    they were chosen ("alarm ")."""
    from ringvault.cloud.errors import CapabilityError

    if query is not None:
        return pick(locations, query, ids=lambda loc: [loc.id], name=lambda loc: loc.name, what=f"{among}location")
    if len(locations) == 1:
        return locations[0]
    if not locations:
        raise CapabilityError(f"no location of this account has {what}" if what else "this account has no location")
    shown = names_line(loc.name for loc in locations)
    have = f"{len(locations)} locations have {what}" if what else f"this account has {len(locations)} locations"
    raise CapabilityError(f"{have} ({shown}); choose one with --location NAME")


async def find_of_type(api: RingApi, query: str, cls: type[T], what: str) -> T:
    """``api.find_device(query)`` that must be a ``cls`` (``CapabilityError`` naming what it is otherwise)."""
    from ringvault.cloud.errors import CapabilityError

    device: AnyDevice = await api.find_device(query)
    if not isinstance(device, cls):
        raise CapabilityError(
            f"{device.name} is a {device.model} ({device.kind}), not {what}",
            hint="`ringvault devices` shows what each device is.",
        )
    return device


class Reachable(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def is_offline(self) -> bool: ...


def require_online(device: Reachable) -> None:
    """Refuse at once a device that Ring reports offline (its ``ring_devices`` entry, or its hub document, read
    seconds ago): Ring would answer 404 7019, which the client retries for half a minute before giving up with the
    same news, and a hub sends nothing to a device it cannot reach."""
    from ringvault.cli.common import fail

    if device.is_offline:
        fail(f"{device.name} is offline (Ring has no connection to it); try again when it is back online")
