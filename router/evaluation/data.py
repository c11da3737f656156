"""Readers for the routing evaluation data (the formats of ``shared/eval/``).

RouterBench-style CSV: one row per prompt, ``prompt`` as a Python-list string, and for each model a
``quality|<model>`` (1 correct, 0 not) and a ``cost_usd|<model>`` column. MATH-style JSONL: one
problem per line with ``problem`` and ``level`` (1-5).
"""

import ast
import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

WEAK_MODEL = "mistralai/mistral-7b-chat"
LOCAL_STRONG_MODEL = "mistralai/mixtral-8x7b-chat"
STRONG_MODEL = "gpt-4-1106-preview"

csv.field_size_limit(1 << 24)  # RouterBench prompts with few-shot prefixes exceed the 128 KiB default


class DataFormatError(ValueError):
    """The file is not in a format the evaluation reads."""


@dataclass(frozen=True)
class RoutingRecord:
    sample_id: str
    source: str
    prompt: str
    quality: dict[str, float]
    cost: dict[str, float]


@dataclass(frozen=True)
class LevelledProblem:
    problem: str
    level: int
    subject: str


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prompt_text(raw: str) -> str:
    """RouterBench stores ``"['text']"``; anything that is not a list literal is taken as it is."""
    stripped = raw.strip()
    if stripped.startswith("["):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            return raw
        if isinstance(value, list):
            return "\n\n".join(str(part) for part in value)
    return raw


def read_routerbench(path: str | Path, *, require: Iterable[str] = (WEAK_MODEL, STRONG_MODEL)) -> list[RoutingRecord]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        models = [c.split("|", 1)[1] for c in columns if c.startswith("quality|")]
        missing = [m for m in require if m not in models or f"cost_usd|{m}" not in columns]
        if "prompt" not in columns or missing:
            raise DataFormatError(
                f"{path}: expected a RouterBench-style CSV with a prompt column and quality|/cost_usd| columns "
                f"for {', '.join(require)}; missing: {', '.join(missing) or 'prompt'}")
        records = []
        for number, row in enumerate(reader):
            quality, cost = {}, {}
            for model in models:
                q, c = row.get(f"quality|{model}", ""), row.get(f"cost_usd|{model}", "")
                if q not in ("", None) and c not in ("", None):
                    quality[model], cost[model] = float(q), float(c)
            if any(m not in quality for m in require):
                continue  # a model without a result on this row cannot be scored
            records.append(RoutingRecord(
                sample_id=row.get("sample_id") or str(number), source=row.get("eval_name") or "",
                prompt=prompt_text(row["prompt"]), quality=quality, cost=cost))
    if not records:
        raise DataFormatError(f"{path}: no scorable rows")
    return records


def read_levelled(path: str | Path) -> list[LevelledProblem]:
    problems = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "problem" not in row or "level" not in row:
                raise DataFormatError(f"{path}:{number}: expected 'problem' and 'level' fields")
            level = row["level"]
            if isinstance(level, str):  # the original MATH release writes "Level 3"
                level = level.split()[-1]
            problems.append(LevelledProblem(str(row["problem"]), int(level), str(row.get("subject", ""))))
    if not problems:
        raise DataFormatError(f"{path}: no problems")
    return problems
