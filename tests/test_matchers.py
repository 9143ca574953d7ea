"""Each matcher: when it passes, and the words a designer reads when it does not."""

from __future__ import annotations

from typing import Any

import pytest

from flowtest.matchers import VALUES, BuildContext, TextMode, build
from flowtest.matchers.values import Equals
from flowtest.redact import MASK, Redactor
from flowtest.templating import Bindings

NONE = Bindings({"who": "Ada", "n": 3}, {})
CASE_HINT = "\nhint: the texts differ only in case; ignore_case: true (or text_match: ignore_case) accepts it"


@pytest.mark.parametrize(
    ("spec", "actual", "found", "mismatch"),
    [
        ("Hi", "Hi", True, None),
        ("Hi", "Hi!", True, '"Hi"'),
        (1, True, True, "1"),  # JSON types: true is not 1
        (1, 1.0, True, None),
        ("${who}", "Ada", True, None),
        ("${n}", 3, True, None),  # a whole-string template keeps the number
        ({"contains": "sorry"}, "I'm sorry", True, None),
        ({"contains": "sorry"}, "Sorry", True, 'contains "sorry"' + CASE_HINT),
        ({"regex": "(?i)^flight"}, "Flight number?", True, None),
        ({"any_of": ["a", {"contains": "b"}]}, "xbx", True, None),
        ({"any_of": ["a", {"contains": "b"}]}, "c", True, 'any of: "a" | contains "b"'),
        ({"not": {"contains": "bye"}}, "hello", True, None),
        ({"not": {"contains": "bye"}}, "goodbye", True, 'not contains "bye"'),
        ({"gte": 1}, 1, True, None),
        ({"lt": 3}, 3, True, "< 3"),
        ({"gt": 0}, "5", True, "> 0"),  # a string is not a number
        ({"type": "integer"}, 2.0, True, None),
        ({"type": "string"}, 2, True, "of type string"),
        ({"exists": False}, None, False, None),
        ({"exists": True}, None, False, "exists"),
        ({"length": 3}, "Ada", True, None),
        ({"length": {"gt": 1}}, [1], True, "length > 1"),
        ({"equals": [1, 2], "ignore_order": True}, [2, 1], True, None),
    ],
)
def test_matcher(spec: Any, actual: Any, found: bool, mismatch: str | None) -> None:
    assert build(spec).check(actual, found, NONE) == mismatch


TEXTS = BuildContext(text=True)


@pytest.mark.parametrize(
    ("spec", "context", "actual", "mismatch"),
    [
        ({"starts_with": "Hi"}, VALUES, "Hi there", None),
        ({"starts_with": "there"}, VALUES, "Hi there", 'starts with "there"'),
        ({"ends_with": "there"}, VALUES, "Hi there", None),
        ({"ends_with": "Hi"}, VALUES, "Hi there", 'ends with "Hi"'),
        ({"all_of": [{"contains": "a"}, {"contains": "b"}]}, VALUES, "ab", None),
        ({"all_of": [{"contains": "a"}, {"contains": "c"}]}, VALUES, "ab", 'contains "c"'),
        ({"equals": "ÉTÉ", "ignore_case": True}, VALUES, "été", None),
        ({"contains": "STRASSE", "ignore_case": True}, VALUES, "Straße 1", None),
        ({"regex": "^hi$", "ignore_case": True}, VALUES, "HI", None),
        ({"ends_with": "world", "loose": True}, VALUES, "Hello,  WORLD!", None),
        ({"contains": "a b", "loose": True, "ignore_case": False}, VALUES, "A - B", None),
        (
            {"contains": "x", "loose": False},
            BuildContext(True, TextMode.LOOSE),
            "X",
            'contains "x"' + CASE_HINT,
        ),
        ("hello world", BuildContext(True, TextMode.LOOSE), "Hello, World!", None),
        ("hello world", BuildContext(True, TextMode.IGNORE_CASE), "Hello World", None),
        ("hello world", TEXTS, "Hello World", '"hello world"' + CASE_HINT),
        ("3", TEXTS, 3, '"3"'),  # a text never equals a number
        (3, VALUES, 3, None),  # a value keeps its JSON type
        ({"fuzzy": "kitten"}, VALUES, "Kitten!", None),  # loose forms: case and punctuation do not count
        ({"fuzzy": "kitten", "threshold": 0.5}, VALUES, "sitting", None),  # 3 edits over 7: 0.57
        ({"fuzzy": "kitten"}, VALUES, "sitting", 'fuzzy "kitten" (similarity at least 0.85), score 0.57'),
        ({"fuzzy": "kitten"}, VALUES, None, 'fuzzy "kitten" (similarity at least 0.85)'),
        ({"contains": "${who}"}, VALUES, "hi ada", 'contains "Ada"' + CASE_HINT),
    ],
)
def test_text_matcher(spec: Any, context: BuildContext, actual: Any, mismatch: str | None) -> None:
    assert build(spec, context).check(actual, True, NONE) == mismatch


def test_a_template_inside_a_regex_is_literal_text() -> None:
    bindings = Bindings({"ticket": "INC.1+"}, {})
    matcher = build({"regex": "^Ticket ${ticket}$"})
    assert matcher.check("Ticket INC.1+", True, bindings) is None
    assert matcher.check("Ticket INCx11", True, bindings) == r'matches regex "^Ticket INC\.1\+$"'


def test_the_near_miss_names_the_fewest_differences() -> None:
    mismatch = build("Hi Ada, welcome!", TEXTS).check("hi  ada welcome", True, NONE)
    assert mismatch == (
        '"Hi Ada, welcome!"\nhint: the texts differ only in case, punctuation and spacing; '
        "loose: true (or text_match: loose) accepts it"
    )
    assert build("Hello", TEXTS).check("Goodbye", True, NONE) == '"Hello"'  # no hint: not a near miss
    assert build("Room \uff11\uff12", TEXTS).check("Room 12", True, NONE) == (
        '"Room \uff11\uff12"\nhint: the texts differ only in character forms (Unicode NFKC); '
        "loose: true (or text_match: loose) accepts it"
    )


def test_deep_equality_shows_a_readable_diff() -> None:
    mismatch = build({"equals": {"name": "ParcelCo", "items": 2}}).check(
        {"name": "ParcelCo", "items": 3}, True, NONE
    )
    assert mismatch is not None
    assert mismatch.startswith('equals {"name": "ParcelCo", "items": 2}\n  differences:\n')
    assert "value['items']" in mismatch and "2" in mismatch and "3" in mismatch


def test_redactor_masks_secret_values_keys_and_headers() -> None:
    redactor = Redactor(secret_values=("s3cr3t-value",), secret_keys=frozenset({"cardNumber"}))
    data = {"a": ["x s3cr3t-value y", {"cardNumber": "4111"}], "b": 1}
    assert redactor.value(data) == {"a": [f"x {MASK} y", {"cardNumber": MASK}], "b": 1}
    clean = {"a": "nothing to hide"}
    assert redactor.value(clean) is clean  # no copy when there is nothing to mask
    assert redactor.headers({"Authorization": "Bearer k", "Accept": "application/json"}) == {
        "Authorization": MASK,
        "Accept": "application/json",
    }


def test_any_of_gives_the_near_miss_hint_of_its_closest_option() -> None:
    matcher = build({"any_of": ["See you.", "Goodbye."]}, TEXTS)
    assert matcher.check("goodbye.", True, NONE) == 'any of: "See you." | "Goodbye."' + CASE_HINT
    assert matcher.check("Ciao", True, NONE) == 'any of: "See you." | "Goodbye."'


def test_the_same_value_in_another_json_type_says_which_quotes_to_change() -> None:
    bindings = Bindings({}, {})
    assert Equals("4711").check(4711, True, bindings) == (
        '"4711" (the value is 4711, not the text "4711": write it without quotes)'
    )
    assert (
        Equals(True).check("true", True, bindings)
        == 'true (the value is the text "true": write it in quotes)'
    )
    assert Equals("x").check("y", True, bindings) == '"x"'  # another value: no hint
    assert Equals("4711").check(None, False, bindings) == '"4711"'  # nothing found: no hint
