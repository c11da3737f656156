import pickle
import re
from pathlib import Path

import pytest

from router.core import errors


def all_error_classes():
    found, todo = [], [errors.RouterError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == "router.core.errors"]


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_fields_and_renders_an_openai_body(cls):
    error = cls("precise message", code="some_code", param="messages", details={"k": 1})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.message, copy.code, copy.param, copy.details) == ("precise message", "some_code", "messages", {"k": 1})
    body = copy.to_body()["error"]
    assert body["message"] == "precise message" and body["type"] == cls.error_type and body["code"] == "some_code"
    assert 400 <= cls.status_code < 600


def test_rate_limited_keeps_retry_after_across_pickling_and_sends_it_as_a_header():
    copy = pickle.loads(pickle.dumps(errors.RateLimited("slow down", retry_after=2.4)))
    assert copy.retry_after == 2.4
    assert copy.headers() == {"retry-after": "2"}


def test_no_module_outside_the_error_tree_writes_an_error_body_by_hand():
    """Only RouterError.to_body() makes {"error": ...}: the ingress, the SSE error event and the engines all
    go through it, so every body has the same shape and a precise code."""
    root = Path(errors.__file__).parents[2]
    hand_made = re.compile(r"""["']error["']\s*:\s*\{""")
    found = [str(path.relative_to(root)) for package in ("router", "models", "deployments")
             for path in sorted((root / package).rglob("*.py"))
             if path.name != "errors.py" and hand_made.search(path.read_text())]
    assert found == []
