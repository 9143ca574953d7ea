"""The report writer: every file as JSON, the last run's files reused, a failed write named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flowtest.reporting.writer import ReportWriter, set_aside


def test_every_file_is_written_and_a_failure_costs_only_its_file(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path)
    for index in range(200):
        writer.write({"body": index, "text": "é"}, f"{index}.json")
    writer.write(b"lost", "missing-folder/x.json")
    writer.write({"huge": 2**70, 3: "a non-string key"}, "fallback.json", indent=True)
    writer.write(b"last", "last.json")
    writer.close()
    assert (tmp_path / "last.json").read_bytes() == b"last"
    assert all(
        json.loads((tmp_path / f"{i}.json").read_bytes()) == {"body": i, "text": "é"} for i in range(200)
    )
    assert (tmp_path / "0.json").read_text(encoding="utf-8") == '{"body":0,"text":"é"}'  # UTF-8, not \\u
    # Beyond orjson (an integer over 64 bits): still written, by the standard library.
    assert json.loads((tmp_path / "fallback.json").read_text()) == {"huge": 2**70, "3": "a non-string key"}
    assert len(writer.failures) == 1 and writer.failures[0].startswith("missing-folder/x.json: ")
    writer.close()  # nothing was set aside: nothing to delete
    assert len(list(tmp_path.iterdir())) == 202


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
    writer = ReportWriter(folder, aside)
    for index in range(8):  # more than there are old files: the rest are created
        writer.write({"new": index}, f"new-{index}-result.json")
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


# A disk that fills up mid-run, as the write sees it (EFBIG instead of ENOSPC): in a process of its
# own, whose file size limit is 0 once the last run's result is set aside.
_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from flowtest.reporting.writer import ReportWriter, set_aside
folder = Path(sys.argv[1])
folder.mkdir()
(folder / "old-result.json").write_text('{"name": "A scenario deleted since", "status": "failed"}')
aside = set_aside(folder)
folder.mkdir()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
writer = ReportWriter(folder, aside)
writer.write({"name": "This run's scenario"}, "new-result.json")
writer.write({"name": "This run's other scenario"}, "created-result.json")
writer.close()
print(writer.failures)
"""


def test_a_file_that_cannot_be_written_is_not_left_holding_the_last_runs_result(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    expected = (
        "['new-result.json: [Errno 27] File too large', 'created-result.json: [Errno 27] File too large']"
    )
    assert done.stdout == expected + "\n"
    assert list(folder.iterdir()) == []  # not the old failed result under this run's name, not an empty file
