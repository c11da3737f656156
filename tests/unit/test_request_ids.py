"""Request ids: the caller's (or Serve proxy's) x-request-id is kept when it is a sane id."""

import pytest
from starlette.datastructures import Headers

from router.core.api import MAX_REQUEST_ID_CHARS, request_id_for


def test_the_callers_id_is_kept_whatever_the_header_names_case():
    assert request_id_for({"X-Request-ID": "trace-1"}) == "trace-1"
    assert request_id_for(Headers({"x-request-id": "5f0c2b7e-serve"})) == "5f0c2b7e-serve"


@pytest.mark.parametrize("supplied", ["", "x" * (MAX_REQUEST_ID_CHARS + 1), "bad\nid", "idé"])
def test_an_unusable_id_is_replaced_by_a_new_one(supplied):
    made = request_id_for({"x-request-id": supplied})
    assert made != supplied and made.startswith("chatcmpl-")


def test_without_a_header_every_request_gets_its_own_id():
    assert request_id_for(None) != request_id_for({})
