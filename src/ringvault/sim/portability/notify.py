"""The background ticker of the Data Portability service: applies due transitions and delivers notifications.

It runs as an asyncio task on the simulator server's event loop, started by the first Data Portability request
(the server runs without a lifespan). Every ``TICK_S`` of real time it calls ``service.advance()`` and POSTs every
due notification with httpx. Deliveries go to loopback addresses only: the simulator never reaches the network,
so any other endpoint is recorded as refused. A failed delivery (no answer, or not 2xx) is retried after the
configured backoff, up to ``notification_attempts`` attempts; every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from ringvault.sim.portability.model import Delivery
from ringvault.sim.portability.service import PortabilityService, is_loopback_url

log = logging.getLogger("ringvault.sim.portability")

TICK_S = 0.05


class Ticker:
    """One per service; ``ensure_running`` is idempotent and must be called from the server's event loop."""

    def __init__(self, service: PortabilityService) -> None:
        self._service = service
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._service.closed:
            return
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ringvault-sim-dp-ticker")

    async def _run(self) -> None:
        service = self._service
        async with httpx.AsyncClient(timeout=service.config.notification_timeout_s, trust_env=False) as client:
            sending: set[asyncio.Task[None]] = set()
            try:
                while not service.closed:
                    service.advance()
                    for delivery in service.due_deliveries():
                        task = asyncio.create_task(self._deliver(client, delivery))
                        sending.add(task)
                        task.add_done_callback(sending.discard)
                    await asyncio.sleep(TICK_S)
            finally:
                for task in list(sending):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        service = self._service
        if delivery.url is None:
            service.record_attempt(delivery, None, "the app has no notification endpoint registered")
            return
        if not is_loopback_url(delivery.url):
            service.record_attempt(delivery, None, "refused: the simulator only delivers to loopback addresses")
            return
        try:
            answer = await client.post(delivery.url, content=delivery.body, headers=delivery.headers)
        except httpx.HTTPError as exc:
            service.record_attempt(delivery, None, f"{type(exc).__name__}: {exc}")
            return
        service.record_attempt(delivery, answer.status_code, None if answer.is_success else answer.text[:200])


def ensure_ticker(service: PortabilityService) -> None:
    """Start the service's ticker on the running event loop if it is not running (call from async routes)."""
    if service.ticker is None:
        service.ticker = Ticker(service)
    service.ticker.ensure_running()
