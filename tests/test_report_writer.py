"""The background writer: every file handed over is on disk when close returns; a failed write is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowtest.reporting import writer as writer_module
from flowtest.reporting.writer import BackgroundWriter, set_aside


def test_close_returns_once_every_file_is_written_and_a_failure_costs_only_its_file(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path)
    for index in range(200):
        writer.submit({"body": index, "text": "é"}, f"{index}.json")
    writer.submit(b"lost", "missing-folder/x.json")
    writer.submit({"huge": 2**70, 3: "a non-string key"}, "fallback.json", indent=True)
    writer.submit(b"last", "last.json")
    writer.close()
    assert (tmp_path / "last.json").read_bytes() == b"last"
    assert all(
        json.loads((tmp_path / f"{i}.json").read_bytes()) == {"body": i, "text": "é"} for i in range(200)
    )
    assert (tmp_path / "0.json").read_text(encoding="utf-8") == '{"body":0,"text":"é"}'  # UTF-8, not \\u
    # Beyond orjson (an integer over 64 bits): still written, by the standard library.
    assert json.loads((tmp_path / "fallback.json").read_text()) == {"huge": 2**70, "3": "a non-string key"}
    assert len(writer.failures) == 1 and writer.failures[0].startswith("missing-folder/x.json: ")
    writer.close()  # a second close, as at the end of a run with nothing more to write


@pytest.mark.timeout(60)
def test_the_backlog_is_bounded_and_no_failure_stops_the_writer(tmp_path: Path) -> None:
    # A value nested deeper than orjson and json go (json: RecursionError, neither OSError nor
    # ValueError) must not end the thread: submit() waits on it once the backlog is full.
    deep: list[object] = []
    inner = deep
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    writer = BackgroundWriter(tmp_path)
    writer.submit(deep, "deep.json")
    count = writer_module._BACKLOG * 3
    for index in range(count):
        writer.submit({"n": index}, f"{index}.json")
        assert writer._queue.qsize() <= writer_module._BACKLOG
    writer.close()
    assert all((tmp_path / f"{i}.json").exists() for i in range(count))
    assert len(writer.failures) == 1 and writer.failures[0].startswith("deep.json: ")


def test_a_writer_given_nothing_starts_no_thread(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path)
    writer.close()
    assert writer.failures == []


def test_old_files_are_reused_cut_to_length_never_a_link_and_the_rest_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    for index in range(5):
        (folder / f"old-{index}-result.json").write_text("x" * 10_000)
    outside = tmp_path / "outside.txt"
    outside.write_text("not a report file")
    (folder / "link-result.json").symlink_to(outside)
    shared = tmp_path / "shared.txt"
    shared.write_text("another name for a report file")
    (folder / "hard-link-result.json").hardlink_to(shared)
    inodes = {path.stat().st_ino for path in folder.glob("old-*")}
    aside = set_aside(folder)
    assert aside is not None and not folder.exists()
    folder.mkdir()
    writer = BackgroundWriter(folder, aside)
    for index in range(8):  # more than there are old files: the rest are created
        writer.submit({"new": index}, f"new-{index}-result.json")
    writer.close()
    assert sorted(path.name for path in folder.iterdir()) == [f"new-{i}-result.json" for i in range(8)]
    assert all(json.loads((folder / f"new-{i}-result.json").read_text()) == {"new": i} for i in range(8))
    assert inodes <= {path.stat().st_ino for path in folder.iterdir()}  # reused, not created anew
    assert outside.read_text() == "not a report file"
    assert shared.read_text() == "another name for a report file"
    assert not aside.exists()


def test_setting_aside_a_missing_folder_or_a_killed_runs_leftovers(tmp_path: Path) -> None:
    assert set_aside(tmp_path / "never-written") is None
    leftover = tmp_path / ".results.previous"
    leftover.mkdir()
    (leftover / "stale-result.json").write_text("{}")
    (tmp_path / "results").mkdir()
    assert set_aside(tmp_path / "results") == leftover
    assert list(leftover.iterdir()) == []  # the killed run's stale file is gone, not reused
