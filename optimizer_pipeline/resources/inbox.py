"""Inbox resources: where each client's files land and how long a file must rest (the conversion inbox here, the
ad inbox in ``resources/ads.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import dagster as dg

from optimizer_pipeline.lib.testloop.event_files import INBOX_SUFFIXES, read_inbox_files
from optimizer_pipeline.lib.testloop.inbox import FolderScan, scan_folder


class InboxFolders(dg.ConfigurableResource):
    """``<root>/<client>/`` folders a sensor watches; ``root`` defaults to ``<home>/<FOLDER>``.

    ``settle_seconds``: a file modified (or moved in) more recently than this is still being written and waits for
    a later sensor tick. ``max_files_per_tick``: new files handed to one run per client per tick (the rest follow).
    """

    FOLDER: ClassVar[str] = "inbox"
    SUFFIXES: ClassVar[tuple[str, ...]] = INBOX_SUFFIXES
    KIND: ClassVar[str] = "inbox"

    home: str
    root: str | None = None
    settle_seconds: float = 30.0
    max_files_per_tick: int = 500

    @property
    def root_dir(self) -> Path:
        return Path(self.root) if self.root else Path(self.home) / self.FOLDER

    def folder(self, client: str) -> Path:
        return self.root_dir / client

    def named_files(self, client: str, names: Sequence[str]) -> list[Path]:
        """Exactly ``names`` (what a sensor's run key covers), sorted; a missing one is an error (inbox files must
        never be moved or deleted)."""
        paths = [self.folder(client) / name for name in sorted(set(names))]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} {self.KIND} file(s) this run was started for are no longer in {self.folder(client)}: "
                f"{', '.join(missing[:5])} (inbox files must never be moved or deleted)"
            )
        return paths

    def scan(self, client: str, now_ns: int) -> FolderScan:
        """Settled and pending candidates of the client's folder at ``now_ns`` (one ``os.scandir``)."""
        return scan_folder(
            self.folder(client), now_ns=now_ns, settle_seconds=self.settle_seconds, suffixes=self.SUFFIXES
        )


class ConversionInbox(InboxFolders):
    """``<root>/<client>/`` holds a client's Segment / RudderStack files; ``root`` defaults to ``<home>/inbox``."""

    def files(self, client: str, names: Sequence[str] | None = None) -> list[Path]:
        """The client's event files the parser reads, sorted by name: exactly ``names`` when given (what a sensor's
        run key covers), else every candidate file of the folder (a manual materialisation)."""
        if names is None:
            return read_inbox_files(self.folder(client))
        return self.named_files(client, names)
