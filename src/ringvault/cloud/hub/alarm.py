"""The Ring Alarm's security panel: arm, disarm and sirens (reference §7.8–7.9).

Arming sends ``security-panel.switch-mode`` (``{"mode", "bypass"?}``) to the panel's hub and waits, with a timeout,
for the panel's next update that carries ``mode``. If that ``mode`` is not the one asked for, the hub refused (a
faulted sensor that was not bypassed, usually) and ``AlarmArmError`` says which sensors, by name, in one line.

Two deliberate differences from ring-client-api: rca waits forever (here ``HubTimeoutError``), and rca takes the
panel's first update of *any* kind, so an unrelated panel update arriving first (a siren state, say) makes its arm
fail; here the first update that carries ``mode`` decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args

from ringvault.cloud.errors import AlarmArmError, CapabilityError, HubTimeoutError
from ringvault.cloud.hub.device import HubDevice, flatten
from ringvault.cloud.hub.kinds import AlarmMode, HubDeviceKind

if TYPE_CHECKING:
    from ringvault.cloud.hub.connection import HubConnection

__all__ = ["MODE_WORDS", "arm_refusal", "find_security_panel", "set_alarm_mode", "sound_siren"]

#: What a person calls each mode (the CLI shows these words).
MODE_WORDS: dict[str, str] = {"none": "disarmed", "some": "home", "all": "away"}
_ACTIONS: dict[str, str] = {"none": "disarm", "some": "arm home", "all": "arm away"}
_OPEN_KINDS = frozenset({HubDeviceKind.CONTACT_SENSOR, HubDeviceKind.TILT_SENSOR})
_MOTION_KINDS = frozenset({HubDeviceKind.MOTION_SENSOR, HubDeviceKind.BEAMS_MOTION_SENSOR})


def find_security_panel(connection: HubConnection, devices: Sequence[HubDevice]) -> HubDevice:
    for device in devices:
        if device.kind is HubDeviceKind.SECURITY_PANEL:
            return device
    raise CapabilityError(
        f"location {connection.location_name} has no Ring Alarm security panel",
        hint="Alarm commands need a Ring Alarm base station at the location.",
    )


def _fault_phrase(device: HubDevice) -> str:
    if device.kind in _OPEN_KINDS:
        return "is open"
    if device.kind in _MOTION_KINDS:
        return "detects motion"
    return "is faulted"


def arm_refusal(mode: str, faulted: Sequence[HubDevice], actual: str | None) -> AlarmArmError:
    """The one-line error for a refused mode switch, naming the faulted sensors that were not bypassed."""
    action = _ACTIONS.get(mode, f"switch to {mode!r}")
    if faulted:
        named = ", ".join(f'"{d.name}" {_fault_phrase(d)}' for d in faulted)
        fix = "bypass it or close it" if len(faulted) == 1 else "bypass them or close them"
        if len(faulted) == 1 and faulted[0].kind not in _OPEN_KINDS:
            fix = "bypass it or clear it"
        message = f"cannot {action}: {named} — {fix}"
    else:
        stayed = MODE_WORDS.get(actual or "", actual or "unknown")
        message = (
            f"cannot {action}: the alarm stayed {stayed} (Ring gave no reason; a sensor may need bypassing, "
            "or the base station may be offline)"
        )
    return AlarmArmError(message, mode=mode, faulted=list(faulted), actual=actual)


async def set_alarm_mode(
    connection: HubConnection,
    devices: Sequence[HubDevice],
    mode: AlarmMode,
    bypass: Sequence[str] = (),
    *,
    timeout: float,  # noqa: ASYNC109 - a wait bound for the panel's answer
) -> None:
    """Switch the alarm to ``mode`` (``none``/``some``/``all``), bypassing the sensors whose zids are in ``bypass``."""
    if mode not in get_args(AlarmMode):
        raise ValueError(f"alarm mode must be one of none, some, all; got {mode!r}")
    if isinstance(bypass, str):
        raise TypeError("bypass must be a sequence of zids, not one string")
    panel = find_security_panel(connection, devices)
    bypassed = [str(zid) for zid in bypass]
    async with connection.mode_lock:
        await _switch(connection, panel, devices, mode, bypassed, timeout)


async def _switch(
    connection: HubConnection,
    panel: HubDevice,
    devices: Sequence[HubDevice],
    mode: AlarmMode,
    bypassed: list[str],
    timeout: float,  # noqa: ASYNC109
) -> None:
    answer = panel._next_update(_carries_mode)
    data: dict[str, Any] = {"mode": mode}
    if bypassed:
        data["bypass"] = bypassed
    try:
        await panel.send_command("security-panel.switch-mode", data)
        try:
            updated = await _wait(answer, timeout)
        except TimeoutError:
            raise HubTimeoutError(
                f"the security panel of {connection.location_name} did not confirm {_ACTIONS[mode]} "
                f"within {timeout:g} s"
            ) from None
    finally:
        panel._forget(answer)
    actual = updated.get("mode")
    if actual != mode:
        skip = set(bypassed)
        faulted = [
            d for d in devices if d.faulted is True and d.zid not in skip and d.kind is not HubDeviceKind.SECURITY_PANEL
        ]
        if mode == "some":  # home mode usually leaves motion sensors unarmed: name them only if nothing else is open
            still = [d for d in faulted if d.kind not in _MOTION_KINDS]
            faulted = still or faulted
        raise arm_refusal(mode, faulted, actual if isinstance(actual, str) else None)


def _carries_mode(doc: Mapping[str, Any]) -> bool:
    return "mode" in flatten(doc)


async def _wait(future: asyncio.Future[dict[str, Any]], timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        result: dict[str, Any] = await future
        return result


async def sound_siren(connection: HubConnection, devices: Sequence[HubDevice], on: bool) -> None:
    """``security-panel.sound-siren`` / ``silence-siren`` (no confirmation; rca sends and returns too)."""
    panel = find_security_panel(connection, devices)
    await panel.send_command("security-panel.sound-siren" if on else "security-panel.silence-siren", {})
