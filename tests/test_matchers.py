"""Each matcher: when it passes, and the words a designer reads when it does not."""

from __future__ import annotations

from typing import Any

import pytest

from flowtest.matchers import build
from flowtest.redact import MASK, Redactor
from flowtest.templating import Bindings

NONE = Bindings({"who": "Ada", "n": 3}, {})


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
        ({"contains": "sorry"}, "Sorry", True, 'contains "sorry"'),
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
