"""Reading a request body as JSON with bounds: size, nesting depth, finite numbers, valid UTF-8.

Python's parser recurses once per nesting level, so an unbounded body can raise ``RecursionError``
(a 500) instead of a client error; its default also accepts ``NaN`` and ``Infinity``, which no JSON
client sends and no field of ours can hold.
"""

import json
import math
from typing import Any

from router.core.errors import InvalidRequest, PayloadTooLarge

DEFAULT_MAX_DEPTH = 64


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def depth_over(value: Any, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels; iterative, so it never recurses."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json_body(raw: bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid UTF-8 (byte {exc.start})", code="invalid_json") from None
    if not text.strip():
        raise InvalidRequest("the request body is empty; send a JSON object", code="invalid_json")
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except RecursionError:
        value = None
        too_deep = True
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    else:
        too_deep = depth_over(value, max_depth)
    if too_deep:
        raise InvalidRequest(f"the request body nests arrays and objects deeper than {max_depth} levels",
                             code="json_too_deep")
    return value
