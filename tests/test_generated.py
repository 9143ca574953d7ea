"""Generated values (${random.N}, ${now.FIELD}, ${uuid}) in scenarios; Botium's $functions mapped to them."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from flowtest import generated
from flowtest.templating import Bindings, reference_problem
from tests.conftest import ROOT, run_pytest
from tests.test_authoring import project, run

FLOWS = ROOT / "tests" / "fixtures" / "botium-flows"  # "mirror" answers with what it is told

SCENARIO = """\
name: Generated values
flow: mirror
conversation:
  - user: order ${random.10} for ${now.date}
  - bot: {regex: "^order (?P<number>\\\\d{10}) for \\\\d{4}-\\\\d{2}-\\\\d{2}$"}
  - user: again ${random.10}
  - bot: again ${number}
"""


def test_random_digits_are_one_value_per_attempt_and_now_is_today(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (root / "scenarios" / "g.scenario.yaml").write_text(SCENARIO)
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert tests.returncode == 0, tests.stdout


def test_the_values_and_what_names_none() -> None:
    values = {"uuid": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    digits = generated.value("random.12", values)
    assert re.fullmatch(r"\d{12}", digits)
    assert generated.value("random.12", values) == digits  # the same within the attempt
    assert generated.value("random.4", values) == digits[:4]
    assert generated.value("random.12", {"uuid": "another"}) != digits
    noon = datetime.datetime(2024, 5, 1, 12, 30, 5, tzinfo=datetime.timezone.utc)
    fields = {field: generated.value(f"now.{field}", {}, lambda: noon) for field in generated.NOW_FIELDS}
    assert fields == {
        "iso": "2024-05-01T12:30:05+00:00",
        "date": "2024-05-01",
        "time": "12:30:05",
        "timestamp": "1714566605000",
        "year": "2024",
        "month": "May",
        "day": "1",
        "weekday": "Wednesday",
    }
    assert Bindings(values, {}).lookup("random.3") == digits[:3]
    assert reference_problem("random.0", frozenset()) == (
        "'${random.0}': random takes a number of digits, 1 to 64: ${random.10}"
    )
    assert reference_problem("now.tomorrow", frozenset()) == (
        "'${now.tomorrow}': now has iso, date, time, timestamp, year, month, day, weekday: ${now.date}"
    )
    assert reference_problem("now.date", frozenset()) is None


BOTIUM = """\
generated values

#me
order $random(10) on $date_ISO

#bot
order $number on *

#me
again $number, ref $uniqid

#bot
again $number, ref *
"""


def test_botiums_generated_values_come_across_as_templates_and_run(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "pyproject.toml").write_text(f'[tool.flowtest]\nsandbox_flows = "{FLOWS}"\n')
    (root / "botium").mkdir()
    (root / "botium" / "generated.convo.txt").write_text(BOTIUM)
    done = run("import", "botium", "botium", "--out", "scenarios/imported", "--flow", "mirror", cwd=root)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    text = (root / "scenarios" / "imported" / "generated.scenario.yaml").read_text()
    assert "  - user: order ${random.10} on ${now.date}\n" in text
    assert "  - user: again ${number}, ref ${uuid}\n" in text
    tests = run_pytest(root, "-v", env={"FLOWTEST_BASE_URL": ""})
    assert "generated values PASSED" in tests.stdout, tests.stdout
