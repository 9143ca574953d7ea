"""The background writer: every file handed over is on disk when close returns; a failed write is named."""

from __future__ import annotations

import json
from pathlib import Path

from flowtest.reporting.writer import BackgroundWriter


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


def test_a_writer_given_nothing_starts_no_thread(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path)
    writer.close()
    assert writer.failures == []
