"""The inbox watcher's trigger: it fires when a file arrives, once, and not for what was there."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest


def test_the_trigger_fires_for_a_new_file_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from innovation_pipeline.orchestration.inbox_watch import InboxTrigger

    monkeypatch.setenv("PIPELINE_INBOX_URL", f"file://{tmp_path}")
    folder = tmp_path / "ky_local_labs"
    folder.mkdir()
    (folder / "KY_LLL_851_2022-23.csv").write_text("already here\n")

    async def first_event() -> object:
        events = InboxTrigger("ky_local_labs", poke_interval=0.05).run()
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "fired for a file that was there when it started"
        (folder / "KY_LLL_851_2023-24.csv").write_text("new\n")
        (folder / ".KY_LLL_851_2024-25.csv.part").write_text("a copy in progress\n")
        event = await asyncio.wait_for(waiting, timeout=10)
        await events.aclose()
        return event

    event = asyncio.run(first_event())
    assert event.payload == {"source": "ky_local_labs", "files": ["KY_LLL_851_2023-24.csv"]}  # type: ignore[attr-defined]


def test_a_changed_file_counts_and_a_removed_one_does_not() -> None:
    from innovation_pipeline.orchestration.inbox_watch import changed

    before = {"a.csv": (10, 1.0), "b.csv": (5, 1.0)}
    assert changed(before, {"a.csv": (10, 1.0)}) == []
    assert changed(before, {"a.csv": (11, 2.0), "b.csv": (5, 1.0), "c.csv": (1, 3.0)}) == ["a.csv", "c.csv"]


def test_watching_off_keeps_the_contracts_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    from innovation_pipeline.orchestration import config

    monkeypatch.setenv("PIPELINE_INBOX_WATCH_SECONDS", "0")
    assert config.ingest_schedule("ky_local_labs", "@daily") == "@daily"
    monkeypatch.delenv("PIPELINE_INBOX_WATCH_SECONDS")
    assert os.environ.get("PIPELINE_INBOX_WATCH_SECONDS") is None
    assert config.inbox_asset("ky_local_labs").watchers
