"""The complexity gate of issue 18: at most 15 blocks of flowtest rank C or worse on radon's scale
(cyclomatic complexity over 10), so that growth goes into small functions and tables, not into
longer if-chains. `.venv/bin/radon cc -nc -s flowtest` lists the same blocks."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "flowtest"
MOST_COMPLEX_BLOCKS = 15


def complex_blocks(package: Path) -> list[str]:
    """Each function, method and class ranked C or worse: ``path:line name rank (complexity)``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            rank = cc_rank(block.complexity)
            if rank >= "C":
                where = path.relative_to(package.parent).as_posix()
                found.append(f"{where}:{block.lineno} {block.fullname} {rank} ({block.complexity})")
    return found


def test_at_most_15_blocks_of_flowtest_rank_c_or_worse() -> None:
    found = complex_blocks(PACKAGE)
    assert len(found) <= MOST_COMPLEX_BLOCKS, (
        f"{len(found)} blocks rank C or worse (complexity over 10), at most {MOST_COMPLEX_BLOCKS} "
        "allowed; split them into small functions or a table:\n" + "\n".join(found)
    )


def test_the_gate_counts_functions_methods_and_classes_over_10_and_nothing_at_10(tmp_path: Path) -> None:
    ten = "\n".join(f"    if x == {n}:\n        return {n}" for n in range(9))  # 1 + 9 branches
    eleven = ten + "\n    if x == 9:\n        return 9"
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "plain.py").write_text(f"def ten(x):\n{ten}\n\n\ndef eleven(x):\n{eleven}\n")
    indented = eleven.replace("\n", "\n    ")
    (package / "sub" / "kinds.py").write_text(f"class Kind:\n    def method(self, x):\n    {indented}\n")

    # A class ranks by its methods too, as `radon cc` lists it.
    assert complex_blocks(package) == [
        "pkg/plain.py:22 eleven C (11)",
        "pkg/sub/kinds.py:1 Kind C (12)",
        "pkg/sub/kinds.py:2 Kind.method C (11)",
    ]


def test_the_runner_stays_a_dispatch_loop_of_at_most_400_lines() -> None:
    # Issue 18: Start Session, the loop over the step kinds, records, retries and teardown;
    # what a step does or how its failure reads lives in flowtest/steps/.
    lines = (PACKAGE / "runner.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 400, (
        f"flowtest/runner.py has {lines} lines: move per-kind or wording code to flowtest/steps/"
    )
