"""``StoreLinks``: the bridge's view of the archive (``ringvault.mqtt.model.ArchiveLinks``) over an ``ArchiveStore``.

A recording is linked once the archive holds it: its file (absolute path, so an automation can hand it to a media
player or a notification) and, when ``serve`` runs, the URL of its playback page (``<serve_url>/timeline/<ding id>``,
the page the web UI links). Reads are small indexed queries; the bridge calls them when an event's recording is
archived and when a camera's "last recording" entity is read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError

from ringvault.mqtt.model import RecordingLink

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.records import StoredMedia

__all__ = ["StoreLinks", "timeline_url"]

log = logging.getLogger("ringvault.mqtt.archive")


def timeline_url(serve_url: str | None, event_id: str) -> str | None:
    """``<serve_url>/timeline/<event id>`` (the id quoted as a path segment), None without a serve URL."""
    if not serve_url:
        return None
    return f"{serve_url.rstrip('/')}/timeline/{quote(event_id, safe='')}"


class StoreLinks:
    """Recording links from an ``ArchiveStore`` whose files live under ``archive_dir``."""

    def __init__(self, store: ArchiveStore, archive_dir: Path, serve_url: str | None = None) -> None:
        self.store = store
        self.archive_dir = archive_dir
        self.serve_url = serve_url

    def recording(self, event_id: str) -> RecordingLink | None:
        """The archived recording of the event ``event_id`` (ding id), None while the archive has none."""
        try:
            media = next((m for m in self.store.media_for_event(str(event_id)) if m.kind.value == "recording"), None)
        except SQLAlchemyError as exc:  # a busy or broken database: no link now, the bridge goes on
            log.warning("cannot read the archive for event %s (%s)", event_id, type(exc).__name__)
            return None
        return None if media is None else self._link(str(event_id), media)

    def latest(self, device_id: int) -> RecordingLink | None:
        """The newest archived recording of camera ``device_id``."""
        try:
            cursor: str | None = None
            for _ in range(20):  # the newest events first; a camera whose last 2,000 have no recording has none here
                page = self.store.query_events(device_id=device_id, media_status="done", limit=100, cursor=cursor)
                for event in page.events:
                    link = self.recording(event.id)
                    if link is not None:
                        return link
                if page.next_cursor is None:
                    return None
                cursor = page.next_cursor
        except SQLAlchemyError as exc:
            log.warning("cannot read the archive for camera %s (%s)", device_id, type(exc).__name__)
        return None

    def _link(self, event_id: str, media: StoredMedia) -> RecordingLink:
        return RecordingLink(
            event_id=event_id,
            path=str(self.archive_dir / media.path),
            url=timeline_url(self.serve_url, event_id),
        )
