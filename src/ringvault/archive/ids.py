"""Which of Ring's numeric ids the archive can hold.

The archive keeps device ids (``devices.id``) and account profile ids (``accounts.profile_id``) in ``BigInteger``
columns: a signed 64-bit integer in SQLite and in PostgreSQL. Ring's device ids are far smaller, but a response
may carry any integer (the cloud models keep it exact, as Python integers do). Storing one beyond 64 bits would end
the whole command with an ``OverflowError``; instead the sync and the snapshot sink skip that one device with one
line that says why, and everything else proceeds. Keeping such ids would need a schema change (ids as text).
"""

from __future__ import annotations

__all__ = ["ID_MAX", "ID_MIN", "UnstorableIdError", "fits_archive", "unstorable_device_line", "unstorable_reason"]

ID_MIN = -(2**63)
ID_MAX = 2**63 - 1


class UnstorableIdError(ValueError):
    """An id outside the archive's signed 64-bit range."""


def fits_archive(value: int | None) -> bool:
    """Whether the archive's integer id columns can hold ``value`` (None always fits: the column is nullable)."""
    return value is None or ID_MIN <= value <= ID_MAX


def _shown(value: int) -> str:
    try:
        text = str(value)
    except ValueError:  # beyond Python's int-to-text limit (4300 digits)
        return f"of {value.bit_length()} bits"
    return text if len(text) <= 40 else f"{text[:20]}… ({len(text)} digits)"


def unstorable_reason(device_id: int) -> str:
    """Why a device with this id is not archived (a huge id is shortened)."""
    return (
        f"its device id {_shown(device_id)} is larger than the archive can hold (signed 64-bit), so its events and "
        "snapshots are not archived"
    )


def unstorable_device_line(name: str | None, device_id: int) -> str:
    """The one line that says a device was skipped because its id does not fit."""
    return f"{name or 'a device'}: skipped: {unstorable_reason(device_id)}"
