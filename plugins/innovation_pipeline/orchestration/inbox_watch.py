"""Start a source's ingest run when a file arrives in its inbox, not at the next scheduled run.

Each ingest DAG is scheduled on its contract's ``schedule`` or on the Asset ``inbox://<source>``,
which an Airflow 3 ``AssetWatcher`` updates: :class:`InboxTrigger` runs in the triggerer, looks
at the inbox every ``PIPELINE_INBOX_WATCH_SECONDS`` (default 10; ``0`` turns watching off) and
fires when a file appears or changes. It only looks at names, sizes and modification times (no
file is read or hashed, and the warehouse is not asked): the run it starts lists what is new
itself, so a change that is not a new delivery costs one short run that lands nothing. Files
already in the inbox when the trigger starts (a first start, a triggerer restart) are left to the
scheduled run, which lands them the same way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

DEFAULT_SECONDS = 10.0


def watch_seconds() -> float:
    """Seconds between two looks at an inbox (``PIPELINE_INBOX_WATCH_SECONDS``); 0: no watching."""
    return max(0.0, float(os.environ.get("PIPELINE_INBOX_WATCH_SECONDS") or DEFAULT_SECONDS))


def inbox_state(source: str) -> dict[str, tuple[int, float]]:
    """Each submission file in the source's inbox: (size, modification time), by name."""
    from innovation_pipeline.orchestration.inbox import inbox, is_submission_name

    folder = inbox(source)
    if not folder.exists():
        return {}
    state = {}
    for entry in folder.iterdir():
        if entry.is_file() and is_submission_name(entry.name):
            info = entry.stat()
            state[entry.name] = (
                int(info.get("size") or 0),
                float(info.get("mtime") or info.get("created") or 0),
            )
    return state


def changed(before: dict[str, tuple[int, float]], now: dict[str, tuple[int, float]]) -> list[str]:
    """Names that are new in ``now`` or whose size or time changed (removed ones do not count)."""
    return sorted(name for name, seen in now.items() if before.get(name) != seen)


class InboxTrigger(BaseEventTrigger):
    """Fires each time a file appears (or changes) in ``source``'s inbox; never ends by itself."""

    def __init__(self, source: str, poke_interval: float = DEFAULT_SECONDS) -> None:
        super().__init__()
        self.source = source
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source": self.source,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        before = await asyncio.to_thread(inbox_state, self.source)
        while True:
            await asyncio.sleep(self.poke_interval)
            try:
                now = await asyncio.to_thread(inbox_state, self.source)
            except Exception:  # an unreachable remote inbox: try again at the next look
                self.log.exception("could not list the %s inbox", self.source)
                continue
            new = changed(before, now)
            before = now
            if new:
                self.log.info("%s: %d file(s) arrived: %s", self.source, len(new), ", ".join(new))
                yield TriggerEvent({"source": self.source, "files": new})
