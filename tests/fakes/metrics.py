"""A recording stand-in for ``ray.serve.metrics``: each metric keeps its values by tag set.

``tests/unit/test_telemetry_metrics.py`` checks that its constructors and methods take the arguments the
real ``Counter``, ``Gauge`` and ``Histogram`` take, and that every tag written is one the metric declared
(the real ones raise on an undeclared tag)."""

from collections import defaultdict
from collections.abc import Sequence


def _key(tag_keys: tuple[str, ...], tags: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    tags = tags or {}
    undeclared = set(tags) - set(tag_keys)
    if undeclared:
        raise ValueError(f"tags {sorted(undeclared)} were not declared (tag_keys={tag_keys})")
    missing = set(tag_keys) - set(tags)
    if missing:
        raise ValueError(f"tags {sorted(missing)} are missing")
    return tuple(sorted(tags.items()))


class FakeCounter:
    def __init__(self, name: str, description: str = "", tag_keys: tuple[str, ...] | None = None) -> None:
        self.name, self.description, self.tag_keys = name, description, tuple(tag_keys or ())
        self.values: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        if value <= 0:
            raise ValueError("a counter only goes up")
        self.values[_key(self.tag_keys, tags)] += value


class FakeGauge:
    def __init__(self, name: str, description: str = "", tag_keys: tuple[str, ...] | None = None) -> None:
        self.name, self.description, self.tag_keys = name, description, tuple(tag_keys or ())
        self.values: dict[tuple[tuple[str, str], ...], float] = {}

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.values[_key(self.tag_keys, tags)] = value


class FakeHistogram:
    def __init__(self, name: str, description: str = "", boundaries: list[float] | None = None,
                 tag_keys: tuple[str, ...] | None = None) -> None:
        self.name, self.description, self.tag_keys = name, description, tuple(tag_keys or ())
        self.boundaries = list(boundaries or [])
        self.values: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.values[_key(self.tag_keys, tags)].append(value)


class FakeMetricFactory:
    def __init__(self) -> None:
        self.made: dict[str, FakeCounter | FakeGauge | FakeHistogram] = {}

    def _keep(self, metric):  # type: ignore[no-untyped-def]
        if metric.name in self.made:
            raise ValueError(f"metric {metric.name} registered twice")
        self.made[metric.name] = metric
        return metric

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> FakeCounter:
        return self._keep(FakeCounter(name, description=description, tag_keys=tuple(tag_keys)))

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> FakeGauge:
        return self._keep(FakeGauge(name, description=description, tag_keys=tuple(tag_keys)))

    def histogram(self, name: str, description: str, boundaries: Sequence[float],
                  tag_keys: Sequence[str]) -> FakeHistogram:
        return self._keep(FakeHistogram(name, description=description, boundaries=list(boundaries),
                                        tag_keys=tuple(tag_keys)))
