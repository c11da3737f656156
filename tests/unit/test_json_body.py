"""Request bodies read as bounded JSON: every malformed body is a precise 4xx, never a RecursionError."""

import pytest

from router.core.api import MAX_REQUEST_ID_CHARS, request_id_problem
from router.core.errors import InvalidRequest, PayloadTooLarge
from router.core.json_body import depth_over, parse_json_body


def read(raw: bytes | str, **limits):
    return parse_json_body(raw.encode() if isinstance(raw, str) else raw, **{"max_bytes": 1 << 20, **limits})


def test_a_normal_body_is_read_as_is():
    assert read('{"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}') == \
        {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_nesting_past_the_limit_is_a_400_however_deep(depth):
    with pytest.raises(InvalidRequest) as caught:
        read("[" * depth + "]" * depth, max_depth=64)
    assert caught.value.code == "json_too_deep" and "deeper than 64 levels" in caught.value.message


def test_nesting_at_the_limit_is_read():
    assert read('{"a": ' * 63 + "[]" + "}" * 63, max_depth=64) is not None


def test_depth_counts_arrays_and_objects_and_not_strings():
    assert not depth_over({"a": ["[[[[[[", {"b": 1}]}, 3)
    assert depth_over({"a": [{"b": []}]}, 3)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"a": "\xff"}', "not valid UTF-8 (byte 7)"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ('{"a": 1e999}', "out of range"),
    ('{"a": 1' + "0" * 5000 + "}", "not valid JSON"),  # past Python's integer-digits limit
    ("   ", "body is empty"),
    ("{", "not valid JSON"),
])
def test_malformed_bodies_are_invalid_json(raw, message):
    with pytest.raises(InvalidRequest) as caught:
        read(raw)
    assert caught.value.code == "invalid_json" and message in caught.value.message


def test_a_body_over_the_size_limit_is_a_413():
    with pytest.raises(PayloadTooLarge) as caught:
        read('{"a": "' + "x" * 100 + '"}', max_bytes=50)
    assert caught.value.status_code == 413 and "the limit is 50 bytes" in caught.value.message


@pytest.mark.parametrize(("supplied", "problem"), [
    ("", "is empty"),
    ("x" * (MAX_REQUEST_ID_CHARS + 1), f"the limit is {MAX_REQUEST_ID_CHARS}"),
    ("bad\tid", "printable ASCII"),
    ("idé", "printable ASCII"),
])
def test_an_unusable_request_id_is_named_with_why(supplied, problem):
    assert problem in request_id_problem({"X-Request-Id": supplied})


def test_a_usable_or_absent_request_id_has_no_problem():
    assert request_id_problem({"x-request-id": "x" * MAX_REQUEST_ID_CHARS}) is None
    assert request_id_problem({}) is None and request_id_problem(None) is None
