"""Prompt features for the learned classifier: cheap, deterministic, pure Python.

Two kinds, both computed from the text alone:

* ``dense``: a short vector of hand-made cues that should hold on data the classifier never saw
  (length, structure, code, math, multiple choice, multi-part and multi-document cues, reasoning
  cues, question type). Their order is ``DENSE_NAMES``.
* ``hashed``: word unigrams and bigrams of the question, hashed with CRC-32 into ``HASH_DIM``
  buckets (CRC-32, not ``hash()``: Python salts ``str`` hashes per process, and the shipped weights
  must mean the same thing in every process).

Few-shot prompts (RouterBench's ARC and Winogrande rows carry five solved examples before the real
question) are split first: the features describe the question that must be answered, and the number
of solved examples is one cue among the others.
"""

import math
import re
import zlib
from dataclasses import dataclass

HASH_DIM = 4096
# Only the head and tail of a very long prompt are hashed: enough to see what is asked,
# and it bounds the cost of a 10,000-character request.
HASH_HEAD_CHARS, HASH_TAIL_CHARS = 1500, 500

# "Answer:" followed by a short solved answer and a blank line closes one few-shot example.
_DEMO_END = re.compile(r"Answer:[ \t]*\n?[ \t]*[^\n]{1,40}\n[ \t]*\n")
_WORD = re.compile(r"[a-z]+|\d+")
_OPTION_LINE = re.compile(r"^[ \t]*\(?[A-Ea-e][\).:][ \t]+\S", re.M)
_ENUM_LINE = re.compile(r"^[ \t]*(?:\d{1,2}[\).]|[-*•])[ \t]+\S", re.M)
_BLANK = re.compile(r"(?:^|\s)_+(?:\s|[.,?!]|$)")
_CODE_FENCE = re.compile(r"```")
_CODE_SYNTAX = re.compile(r"\bdef |\breturn\b|\bclass |\bimport |[{};]\s*$|=>|->|==|!=|\w\(\w*\)", re.M)
_CODE_ASK = re.compile(
    r"\b(?:write|implement|create|code|fix|debug|refactor)\b[^.?!\n]{0,40}"
    r"\b(?:function|program|script|class|method|code|query|regex|algorithm|api)\b", re.I)
_CODE_WORDS = re.compile(
    r"\b(?:python|java(?:script)?|c\+\+|rust|golang|sql|regex|array|list|tuple|dictionary|string|"
    r"integer|recursion|recursive|compile|runtime|exception|bug|stack|queue|linked list)\b", re.I)
_LATEX = re.compile(r"\\[a-zA-Z]+|\$")
_MATH_WORDS = re.compile(
    r"\b(?:solve|compute|calculate|evaluate|simplify|equations?|integers?|primes?|probability|polynomials?|"
    r"remainder|divisible|divisors?|multiples?|sum of|product of|how many|find the (?:value|number|sum|area|"
    r"smallest|largest)|triangles?|circles?|radius|perimeter|volume|hexagon|square root|fraction|percent|"
    r"derivative|integral|matrix|vector|real numbers?|digits?|consecutive|ratio)\b", re.I)
_MATH_SYMBOLS = re.compile(r"[=+\-*/^<>]|\d")
_SINGLE_LETTER_VAR = re.compile(r"(?<![A-Za-z\\])[a-z](?![A-Za-z])")
_REASONING = re.compile(
    r"\b(?:why|explain|prove|proof|show that|step[- ]by[- ]step|justify|reason(?:ing)?|derive|"
    r"compare|contrast|analy[sz]e|evaluate|infer|implications?|trade-?offs?|pros and cons|critique)\b", re.I)
_MULTI_DOC = re.compile(
    r"\b(?:document|passage|article|source|excerpt|context|transcript|report|paper)s?\b\s*(?:\d+|[A-Z])?\s*[:\]]|"
    r"^\s*\[\d+\]|^#{1,3} ", re.I | re.M)
_SYNTHESIS = re.compile(
    r"\b(?:summari[sz]e|summary|synthesi[sz]e|across (?:the|these|all)|the following (?:documents|texts|passages)|"
    r"tl;?dr|key points|combine)\b", re.I)
_CREATIVE = re.compile(r"\b(?:story|poem|haiku|essay|lyrics|song|novel|fiction|imagine|creative|slogan)\b", re.I)
_EXTRACTION = re.compile(r"\b(?:extract|list all|find all|identify all|parse|fill in|classify|label|tag)\b", re.I)
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|good (?:morning|afternoon|evening)|yo|howdy)\b", re.I)
_WH = re.compile(r"\b(?:what|which|who|whom|when|where|how)\b", re.I)
_CONSTRAINT = re.compile(r"\b(?:only|exactly|must|without|at least|at most|no more than|do not|don't)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|except|least|false|incorrect|never)\b", re.I)
_CAPITALISED = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")
_OPTION_TEXT = re.compile(r"^[ \t]*\(?[A-Ea-e][\).:][ \t]+(.+)$", re.M)


def _option_cues(q: str) -> tuple[float, float, float]:
    """Multiple-choice answers: how long they are, how many are numbers, and how much of their wording
    the question already contains (close distractors are harder to tell apart)."""
    options = _OPTION_TEXT.findall(q)
    if not options:
        return 0.0, 0.0, 0.0
    stem = set(q[: q.find(options[0])].lower().split())
    lengths = [len(o.split()) for o in options]
    numeric = sum(1 for o in options if any(ch.isdigit() for ch in o)) / len(options)
    words = [w for o in options for w in o.lower().split()]
    overlap = sum(1 for w in words if w in stem) / len(words) if words else 0.0
    return math.log1p(sum(lengths) / len(lengths)), numeric, overlap


@dataclass(frozen=True)
class PromptView:
    """The prompt split into the question to answer and the solved examples before it."""

    full: str
    question: str
    demos: int


def split_few_shot(text: str) -> PromptView:
    ends = list(_DEMO_END.finditer(text))
    if ends:
        tail = text[ends[-1].end():].strip()
        if tail:
            return PromptView(full=text, question=tail, demos=len(ends))
    return PromptView(full=text, question=text.strip(), demos=0)


DENSE_NAMES: tuple[str, ...] = (
    "log_chars", "log_words", "log_lines", "log_full_chars", "log_demos", "options", "cloze_blank",
    "question_marks", "enumerated_items", "code_fence", "code_syntax", "code_ask", "code_words",
    "latex", "math_words", "math_symbol_density", "single_letter_vars", "reasoning_cues", "multi_doc",
    "synthesis", "creative", "extraction", "greeting", "wh_words", "constraints", "negation",
    "capitalised_density", "mean_word_len", "digit_tokens", "option_log_len", "option_numeric",
    "option_overlap",
)


def _log_count(n: int) -> float:
    return math.log1p(n)


def dense_features(view: PromptView) -> list[float]:
    """The hand-made cues, in ``DENSE_NAMES`` order. Counts are log-damped so one extreme prompt
    cannot dominate a linear model."""
    q, full = view.question, view.full
    words = q.split()
    n_words = len(words)
    n_chars = len(q)
    letters = sum(len(w) for w in words)
    return [
        math.log1p(n_chars),
        math.log1p(n_words),
        math.log1p(q.count("\n")),
        math.log1p(len(full)),
        _log_count(view.demos),
        min(len(_OPTION_LINE.findall(q)), 6) / 6.0,
        1.0 if _BLANK.search(q) else 0.0,
        _log_count(q.count("?")),
        _log_count(len(_ENUM_LINE.findall(q))),
        1.0 if _CODE_FENCE.search(full) else 0.0,
        _log_count(len(_CODE_SYNTAX.findall(q))),
        1.0 if _CODE_ASK.search(q) else 0.0,
        _log_count(len(_CODE_WORDS.findall(q))),
        _log_count(len(_LATEX.findall(q))),
        _log_count(len(_MATH_WORDS.findall(q))),
        len(_MATH_SYMBOLS.findall(q)) / (n_chars + 20.0),
        _log_count(len(_SINGLE_LETTER_VAR.findall(q))),
        _log_count(len(_REASONING.findall(q))),
        _log_count(len(_MULTI_DOC.findall(full))),
        _log_count(len(_SYNTHESIS.findall(q))),
        _log_count(len(_CREATIVE.findall(q))),
        _log_count(len(_EXTRACTION.findall(q))),
        1.0 if n_words <= 8 and _GREETING.search(q) else 0.0,
        _log_count(len(_WH.findall(q))),
        _log_count(len(_CONSTRAINT.findall(q))),
        _log_count(len(_NEGATION.findall(q))),
        len(_CAPITALISED.findall(q)) / (n_words + 5.0),
        letters / n_words if n_words else 0.0,
        _log_count(sum(1 for w in words if w.isdigit())),
        *_option_cues(q),
    ]


def _hash_text(question: str) -> str:
    if len(question) > HASH_HEAD_CHARS + HASH_TAIL_CHARS:
        return question[:HASH_HEAD_CHARS] + " " + question[-HASH_TAIL_CHARS:]
    return question


def hashed_features(view: PromptView) -> dict[int, float]:
    """Bucket -> weight for word unigrams and bigrams (numbers folded to one token), L2-normalised
    so a long prompt does not outweigh a short one."""
    tokens = ["0" if t[0].isdigit() else t for t in _WORD.findall(_hash_text(view.question).lower())]
    grams = set(tokens)
    grams.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    if not grams:
        return {}
    buckets: dict[int, float] = {}
    for gram in grams:
        index = zlib.crc32(gram.encode()) % HASH_DIM
        buckets[index] = buckets.get(index, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in buckets.values()))
    return {k: v / norm for k, v in buckets.items()}


_DOLLAR_SPANS = re.compile(r"\$[^$]+\$")


def math_signal(view: PromptView) -> tuple[bool, float]:
    """Whether the question is a mathematics problem, and a hand-made structural difficulty for it.

    Not fitted (the calibration data holds no mathematics): longer statements with more symbols and
    more variables are harder problems (MATH-500's level rises with each of them). Returns a value
    in log-odds units, centred so a short one-line sum scores about zero.
    """
    q = view.question
    latex = len(_LATEX.findall(q))
    spans = len(_DOLLAR_SPANS.findall(q))
    words = len(_MATH_WORDS.findall(q))
    symbols = len(_MATH_SYMBOLS.findall(q))
    is_math = spans >= 1 or latex >= 3 or words >= 2 or (words >= 1 and symbols >= 2)
    if not is_math or _CODE_ASK.search(q):
        return False, 0.0
    variables = len(_SINGLE_LETTER_VAR.findall(q))
    difficulty = (
        0.8 * (math.log1p(len(q)) - math.log1p(120))
        + 0.25 * (math.log1p(spans) - math.log1p(2))
        + 0.15 * (math.log1p(variables) - math.log1p(2))
    )
    return True, difficulty
