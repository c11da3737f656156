"""compare's exact figures: the extracted text answer, the reported agreement for code and text, how many of
the other answers count as identical at the 0.999 boundary, and the problems tuple. Written against the
survivors of docs/mutation.md."""

import pytest

from router.cascade.compare import Candidate, Comparison, compare

CODE_PROMPT = "Write a python function that returns the difference of two numbers."
TEXT_PROMPT = "Tell me about Rome."


def fenced(body: str) -> str:
    return f"```python\n{body}\n```"


def test_the_text_answer_is_its_sorted_content_words_and_agreement_is_reported_to_six_places():
    """Kills x_compare 83 and _extract 21: {capital, italy, rome} vs {capital, france, rome} share 2 of 3."""
    result = compare(TEXT_PROMPT, [Candidate("tier-2", "Rome is the capital of Italy."),
                                   Candidate("resample 1", "Rome is the capital of France.")])
    assert result == Comparison(form="text", answers=("capital italy rome", "capital france rome"),
                                problems=(None, None), agreement=0.666667, agreeing=0,
                                sources=("tier-2", "resample 1"))


def test_an_answer_of_stop_words_only_has_no_answer():
    """Kills _extract 19: no content word is no answer, not an empty one that could agree."""
    result = compare(TEXT_PROMPT, [Candidate("a", "Rome is old."), Candidate("b", "It is what it is."),
                                   Candidate("c", "It is, it is!")])
    assert result.answers == ("old rome", None, None)
    assert result.problems == (None, "no answer", "no answer")
    assert (result.agreement, result.agreeing) == (0.0, 0)


def test_code_agreement_is_the_share_of_syntax_tokens_in_order():
    """Kills x_compare 45 and _similarity 12 13 14: swapping the operands of ``a - b`` leaves 17 of the 19 word
    tokens of the normalised syntax in order (an order-blind overlap of its pieces would say 0.846154)."""
    result = compare(CODE_PROMPT, [Candidate("a", fenced("def f(a, b):\n    return a - b")),
                                   Candidate("b", fenced("def f(x, y):\n    return y - x"))])
    assert result.form == "code" and result.problems == (None, None)
    assert (result.agreement, result.agreeing) == (round(17 / 19, 6), 0)


def test_a_long_function_that_differs_in_one_operator_nearly_agrees():
    """Kills _similarity 21 24: with difflib's autojunk, the tokens that repeat in a long function would be
    junked and the agreement would collapse to 0.05; 369 of its 370 tokens line up."""
    repeated = "\n".join("    total = total + step" for _ in range(29))
    first = fenced(f"def f(total, step):\n    total = total - step\n{repeated}")
    other = fenced(f"def g(acc, inc):\n    acc = acc * inc\n{repeated.replace('total', 'acc').replace('step', 'inc')}")
    result = compare(CODE_PROMPT, [Candidate("a", first), Candidate("b", other)])
    assert result.form == "code" and result.problems == (None, None)
    assert (result.agreement, result.agreeing) == (round(369 / 370, 6), 0)


def words(prefix: str, count: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(count))


@pytest.mark.parametrize(("shared", "agreeing"), [(999, 1), (998, 0)], ids=["0.999", "0.998"])
def test_an_answer_agreeing_to_0_999_counts_as_identical(shared, agreeing):
    """Kills x_compare 86: 999 of 1000 content words in common is a similarity of exactly 0.999, which counts;
    998 of 1000 does not."""
    first = words("w", 1000)
    other = words("w", shared) + " " + words("z", 1000 - shared)
    result = compare(TEXT_PROMPT, [Candidate("a", first), Candidate("b", other), Candidate("c", "purple rain")])
    assert result.agreeing == agreeing
    assert result.agreement == round((2 * shared / 2000 + 0.0) / 2, 6)
    assert result.problems == (None, None, None)


def test_each_candidates_problem_is_in_order_and_the_empty_list_is_refused_by_name():
    """The problems tuple, one per candidate in order, and x_compare 3's exact message."""
    result = compare(TEXT_PROMPT, [Candidate("a", "Rome is old."), Candidate("b", "<think>hmm</think>"),
                                   Candidate("c", "Rome is old.", "length"), Candidate("d", "As an AI, I cannot."),
                                   Candidate("e", "Rome is old.")])
    assert result.problems == (None, "empty", "truncated", "refused", None)
    assert (result.agreement, result.agreeing) == (0.25, 1)
    with pytest.raises(ValueError) as caught:
        compare(TEXT_PROMPT, [])
    assert str(caught.value) == "compare needs at least one candidate"
