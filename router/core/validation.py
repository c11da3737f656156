"""Pydantic validation errors as one readable line per problem, for config files and request bodies."""

from typing import Any

from pydantic import BaseModel, ValidationError


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem: the field path, what is wrong, what is allowed, the bad value."""
    lines = []
    for error in exc.errors(include_url=False):
        path = _dotted(error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(root, error["loc"][:-1])
            reason = "unknown field" + (f"; allowed fields: {', '.join(allowed)}" if allowed else "")
        else:
            reason = error["msg"]
        lines.append(f"  {path or '<root>'}: {reason} (got {_short(error.get('input'))})")
    return "\n".join(lines)


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _allowed_fields(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = root
    for item in loc:
        if isinstance(item, int):
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            return []
        model = _model_in(field.annotation)
        if model is None:
            return []
    return sorted(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
