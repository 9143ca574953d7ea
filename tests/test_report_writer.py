"""The background writer: every file handed over is on disk when close returns; a failed write is named."""

from __future__ import annotations

from pathlib import Path

from flowtest.reporting.writer import BackgroundWriter


def test_close_returns_once_every_file_is_written_and_a_failure_costs_only_its_file(tmp_path: Path) -> None:
    def write(body: bytes, name: str) -> None:
        (tmp_path / name).write_bytes(body)

    writer = BackgroundWriter(write)
    for index in range(200):
        writer.submit(f"body {index}".encode(), f"{index}.json")
    writer.submit(b"lost", "missing-folder/x.json")
    writer.submit(b"last", "last.json")
    writer.close()
    assert (tmp_path / "last.json").read_bytes() == b"last"
    assert all((tmp_path / f"{i}.json").read_bytes() == f"body {i}".encode() for i in range(200))
    assert len(writer.failures) == 1 and writer.failures[0].startswith("missing-folder/x.json: ")
    writer.close()  # a second close, as at the end of a run with nothing more to write


def test_a_writer_given_nothing_starts_no_thread() -> None:
    writer = BackgroundWriter(lambda body, name: None)
    writer.close()
    assert writer.failures == []
