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
from functools import cached_property

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
# Code syntax, counted with str.count (much cheaper than a regex alternation scanned at every position).
_CODE_MARKS = ("def ", "return ", "import ", "==", "!=", "=>", "->", ";\n", "()", "print(")
_LATEX = re.compile(r"\\[a-zA-Z]+|\$")
_MATH_SYMBOLS = re.compile(r"[=+\-*/^<>]|\d")
_SINGLE_LETTER_VAR = re.compile(r"(?<![A-Za-z\\])[a-z](?![A-Za-z])")
_MULTI_DOC_WORDS = ("document", "passage", "article", "source", "excerpt", "context", "transcript", "report", "paper")
_MULTI_DOC = re.compile(
    r"\b(?:document|passage|article|source|excerpt|context|transcript|report|paper)s?\b\s*(?:\d+|[a-z])?\s*[:\]]|"
    r"^\s*\[\d+\]|^#{1,3} ", re.M)  # run on lower-cased text, and only when a cue word or marker is present
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|good (?:morning|afternoon|evening)|yo|howdy)\b", re.I)
_CAPITALISED = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")


def _cue(words: str, phrases: str = "") -> tuple[frozenset[str], frozenset[str]]:
    """A keyword cue: single lower-case tokens and two-token phrases, matched against the tokens."""
    return frozenset(words.split()), frozenset(p.strip() for p in phrases.split(",") if p.strip())


_CODE_VERBS = frozenset("write implement create code fix debug refactor".split())
_CODE_NOUNS = frozenset("function functions program script class method code query regex algorithm api".split())
_CODE_WORDS = _cue("python javascript java rust golang sql regex array arrays list lists tuple tuples dictionary "
                   "string strings integer integers recursion recursive compile runtime exception bug stack queue",
                   "linked list")
_MATH_WORDS = _cue("solve compute calculate evaluate simplify equation equations integer integers prime primes "
                   "probability polynomial polynomials remainder divisible divisor divisors multiple multiples "
                   "triangle triangles circle circles radius perimeter volume hexagon fraction percent derivative "
                   "integral matrix vector digit digits consecutive ratio",
                   "sum of, product of, how many, square root, real number, real numbers")
_REASONING = _cue("why explain prove proof justify reason reasoning derive compare contrast analyze analyse "
                  "evaluate infer implication implications tradeoff tradeoffs critique",
                  "show that, step by, pros and, trade offs")
_SYNTHESIS = _cue("summarize summarise summary synthesize synthesise tldr combine",
                  "key points, across the, across these, across all, following documents, following passages")
_CREATIVE = _cue("story poem haiku essay lyrics song novel fiction imagine creative slogan")
_EXTRACTION = _cue("extract parse classify label tag", "list all, find all, identify all, fill in")
_WH = _cue("what which who whom when where how")
_CONSTRAINT = _cue("only exactly must without", "at least, at most, no more, do not, don t")
_NEGATION = _cue("not except least false incorrect never")


def _count(cue: tuple[frozenset[str], frozenset[str]], tokens: list[str], bigrams: list[str]) -> int:
    words, phrases = cue
    n = sum(1 for t in tokens if t in words)
    if phrases:
        n += sum(1 for b in bigrams if b in phrases)
    return n


def _code_ask(tokens: list[str]) -> bool:
    """An imperative code verb followed within a few words by a code noun ("write a python function")."""
    return any(t in _CODE_VERBS and any(u in _CODE_NOUNS for u in tokens[i + 1:i + 8]) for i, t in enumerate(tokens))


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
    """The prompt split into the question to answer and the solved examples before it; ``scan`` is
    the question's head and tail (what the pattern cues read, so their cost is bounded) and ``tokens``
    its lower-case word tokens."""

    full: str
    question: str
    demos: int
    scan: str
    tokens: list[str]
    bigrams: list[str]

    # Counts that both the dense cues and ``math_signal`` read: computed once per prompt.
    @cached_property
    def latex(self) -> int:
        return len(_LATEX.findall(self.scan))

    @cached_property
    def math_words(self) -> int:
        return _count(_MATH_WORDS, self.tokens, self.bigrams)

    @cached_property
    def math_symbols(self) -> int:
        return len(_MATH_SYMBOLS.findall(self.scan))

    @cached_property
    def single_letter_vars(self) -> int:
        return len(_SINGLE_LETTER_VAR.findall(self.scan))

    @cached_property
    def code_ask(self) -> bool:
        return _code_ask(self.tokens)


def _view(full: str, question: str, demos: int) -> PromptView:
    if len(question) > HASH_HEAD_CHARS + HASH_TAIL_CHARS:
        scan = question[:HASH_HEAD_CHARS] + "\n" + question[-HASH_TAIL_CHARS:]
    else:
        scan = question
    tokens = _WORD.findall(scan.lower())
    bigrams = [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
    return PromptView(full=full, question=question, demos=demos, scan=scan, tokens=tokens, bigrams=bigrams)


def split_few_shot(text: str) -> PromptView:
    ends = list(_DEMO_END.finditer(text))
    if ends:
        tail = text[ends[-1].end():].strip()
        if tail:
            return _view(text, tail, len(ends))
    return _view(text, text.strip(), 0)


def _multi_doc(full: str) -> int:
    head = full[:HASH_HEAD_CHARS * 4].lower()
    if "\n[" not in head and "#" not in head and not any(w in head for w in _MULTI_DOC_WORDS):
        return 0
    return len(_MULTI_DOC.findall(head))


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
    q, full, scan, tokens, bigrams = view.question, view.full, view.scan, view.tokens, view.bigrams
    words = scan.split()
    n_words = len(q.split()) if scan is not q else len(words)
    n_scan = len(scan)
    letters = sum(len(w) for w in words)
    return [
        math.log1p(len(q)),
        math.log1p(n_words),
        math.log1p(q.count("\n")),
        math.log1p(len(full)),
        _log_count(view.demos),
        min(len(_OPTION_LINE.findall(scan)), 6) / 6.0,
        1.0 if _BLANK.search(scan) else 0.0,
        _log_count(q.count("?")),
        _log_count(len(_ENUM_LINE.findall(scan))),
        1.0 if "```" in full else 0.0,
        _log_count(sum(scan.count(mark) for mark in _CODE_MARKS)),
        1.0 if view.code_ask else 0.0,
        _log_count(_count(_CODE_WORDS, tokens, bigrams)),
        _log_count(view.latex),
        _log_count(view.math_words),
        view.math_symbols / (n_scan + 20.0),
        _log_count(view.single_letter_vars),
        _log_count(_count(_REASONING, tokens, bigrams)),
        _log_count(_multi_doc(full)),
        _log_count(_count(_SYNTHESIS, tokens, bigrams)),
        _log_count(_count(_CREATIVE, tokens, bigrams)),
        _log_count(_count(_EXTRACTION, tokens, bigrams)),
        1.0 if n_words <= 8 and _GREETING.search(q) else 0.0,
        _log_count(_count(_WH, tokens, bigrams)),
        _log_count(_count(_CONSTRAINT, tokens, bigrams)),
        _log_count(_count(_NEGATION, tokens, bigrams)),
        len(_CAPITALISED.findall(scan)) / (len(words) + 5.0),
        letters / len(words) if words else 0.0,
        _log_count(sum(1 for w in words if w.isdigit())),
        *_option_cues(scan),
    ]


def hashed_features(view: PromptView) -> dict[int, float]:
    """Bucket -> weight for word unigrams and bigrams (numbers folded to one token), L2-normalised
    so a long prompt does not outweigh a short one."""
    tokens = ["0" if t[0].isdigit() else t for t in view.tokens]
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
    spans = len(_DOLLAR_SPANS.findall(view.scan))
    latex, words, symbols = view.latex, view.math_words, view.math_symbols
    is_math = spans >= 1 or latex >= 3 or words >= 2 or (words >= 1 and symbols >= 2)
    if not is_math or view.code_ask:
        return False, 0.0
    variables = view.single_letter_vars
    difficulty = (
        0.8 * (math.log1p(len(view.question)) - math.log1p(120))
        + 0.25 * (math.log1p(spans) - math.log1p(2))
        + 0.15 * (math.log1p(variables) - math.log1p(2))
    )
    return True, difficulty
