"""Comparing local answers by form: the same answer in other words agrees, a different one does not."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.cascade.compare import Candidate, compare
from router.cascade.forms import detect_form, options
from router.cascade.score import EscalationScorer

CHOICE_PROMPT = ("Which gas do plants take in?\nA) oxygen\nB) carbon dioxide\nC) helium\nD) neon\n"
                 'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:')
FEW_SHOT = ("Q1?\nA) x\nB) y\nAnswer:\nB\n\n" + CHOICE_PROMPT)
NUMBER_PROMPT = "A shop sells 1,250 apples a day. How many does it sell in 4 days?"
CODE_PROMPT = "Write a python function that returns the odd numbers of a list."


def agree(prompt: str, a: str, b: str) -> float:
    return compare(prompt, [Candidate("one", a), Candidate("two", b)]).agreement


def test_forms_are_told_apart_from_the_prompt():
    assert detect_form(CHOICE_PROMPT) == "choice" and detect_form(CODE_PROMPT) == "code"
    assert detect_form(NUMBER_PROMPT) == "number" and detect_form("Tell me about Rome.") == "text"
    assert options(FEW_SHOT) == {"A": "oxygen", "B": "carbon dioxide", "C": "helium", "D": "neon"}  # the last question's


@given(st.sampled_from(["B", "B\n", "(B)", "B) carbon dioxide", "The answer is B.", "Answer: B", "carbon dioxide",
                        "2", "<think>A or B... B.</think>B"]))
def test_the_same_option_written_any_way_agrees(written):
    assert agree(CHOICE_PROMPT, "B", written) == 1.0


@given(st.sampled_from("ACD"))
def test_another_option_disagrees(other):
    assert agree(CHOICE_PROMPT, "B", other) == 0.0


@given(st.integers(min_value=1_000, max_value=10**9))
def test_a_number_written_with_separators_units_or_marks_agrees(value):
    plain = str(value)
    for written in (f"{value:,}", f"#### {value}", f"The answer is {value} apples.", f"\\boxed{{{value}}}",
                    f"${value:,}.00"):
        assert agree(NUMBER_PROMPT, plain, written) == 1.0, written
    assert agree(NUMBER_PROMPT, plain, str(value + 1)) == 0.0


def test_code_that_differs_only_in_names_and_docstrings_agrees_exactly():
    a = "```python\ndef odds(xs):\n    return [x for x in xs if x % 2]\n```"
    b = 'Sure!\n```python\ndef get_odd(numbers):\n    """Odd ones."""\n    return [n for n in numbers if n % 2]\n```\nDone.'
    c = "```python\ndef odds(xs):\n    out = []\n    for x in xs:\n        if x % 2 == 1:\n            out.append(x)\n    return out\n```"
    assert agree(CODE_PROMPT, a, b) == 1.0
    assert 0.0 < agree(CODE_PROMPT, a, c) < 1.0  # another implementation: partly alike


def test_refused_empty_and_cut_off_answers_count_as_disagreement():
    for bad in (Candidate("two", "I'm sorry, I can't help with that."), Candidate("two", ""),
                Candidate("two", "B", finish_reason="length")):
        result = compare(CHOICE_PROMPT, [Candidate("one", "B"), bad])
        assert result.agreement == 0.0 and result.problems[1] is not None
    refused_first = compare(CHOICE_PROMPT, [Candidate("one", "I cannot answer that."), Candidate("two", "B")])
    assert refused_first.problems[0] == "refused" and refused_first.agreement == 0.0


def test_free_text_agreement_is_word_overlap():
    assert agree("Tell me about Rome.", "Rome is the capital of Italy.", "The capital of Italy is Rome.") == 1.0
    assert agree("Tell me about Rome.", "Rome is old.", "Paris has a tower.") == 0.0


def test_disagreement_and_refusal_score_higher_than_agreement():
    scorer = EscalationScorer()

    def score(*answers: str) -> float:
        return scorer.score(compare(CHOICE_PROMPT, [Candidate(str(i), a) for i, a in enumerate(answers)]), 0.5,
                            CHOICE_PROMPT)

    assert score("B", "B") < 0.5 <= score("B", "C")
    assert score("I'm sorry, I can't help.", "B") >= 0.5
    # the model's own doubt raises the score; its confidence lowers it
    agreed = compare(CHOICE_PROMPT, [Candidate("1", "B"), Candidate("2", "B")])
    assert scorer.score(agreed, 0.5, CHOICE_PROMPT, self_quality=0.1) > scorer.score(agreed, 0.5, CHOICE_PROMPT) > \
        scorer.score(agreed, 0.5, CHOICE_PROMPT, self_quality=0.95)


def test_comparison_never_executes_the_code_it_reads(tmp_path):
    marker = tmp_path / "ran"
    evil = f"```python\ndef f():\n    open({str(marker)!r}, 'w').write('x')\nf()\nimport os\n```"
    compare(CODE_PROMPT, [Candidate("one", evil), Candidate("two", evil)])
    assert not marker.exists()


def test_hostile_answers_are_compared_without_an_error():
    nested = "```python\ndef f():\n    return " + "(" * 500 + "1" + ")" * 500 + "\n```"
    for answer in (nested, "x" * 200_000, "\x00\ud800", "```python\n" + "def f(:\n" * 200 + "```"):
        result = compare(CODE_PROMPT, [Candidate("one", answer), Candidate("two", answer)])
        assert 0.0 <= result.agreement <= 1.0


def test_each_problem_is_named_and_one_candidate_alone_agrees_with_nothing():
    result = compare(CHOICE_PROMPT, [Candidate("a", "B"), Candidate("b", ""), Candidate("c", "B", "length"),
                                     Candidate("d", "I'm sorry, I can't help."), Candidate("e", "purple")])
    assert result.problems == (None, "empty", "truncated", "refused", "no answer")
    assert result.answers[:3] == ("B", None, "B") and result.agreement == 0.0 and result.agreeing == 0
    alone = compare(CHOICE_PROMPT, [Candidate("a", "B")])
    assert (alone.agreement, alone.agreeing, alone.usable) == (0.0, 0, True)
    with pytest.raises(ValueError, match="at least one candidate"):
        compare(CHOICE_PROMPT, [])


def test_agreement_is_the_mean_over_the_other_answers_and_agreeing_counts_exact_matches():
    result = compare(CHOICE_PROMPT, [Candidate("a", "B"), Candidate("b", "B"), Candidate("c", "C"),
                                     Candidate("d", "(B)")])
    assert result.agreement == pytest.approx(2 / 3, abs=1e-6) and result.agreeing == 2


def test_partial_word_overlap_is_the_dice_coefficient_and_numbers_do_not_half_agree():
    # content words {rome, capital, italy} vs {rome, capital, france}: 2 * 2 / (3 + 3)
    assert agree("Tell me about Rome.", "Rome is the capital of Italy", "Rome is the capital of France") == \
        pytest.approx(2 / 3, abs=1e-6)
    assert agree(NUMBER_PROMPT, "5000", "5001") == 0.0 and agree(NUMBER_PROMPT, "5000", "no idea at all") == 0.0


def test_code_similarity_is_graded_by_the_normalised_syntax_and_unparsable_code_is_no_answer():
    a = "```python\ndef f(xs):\n    return sorted(xs)\n```"
    b = "```python\ndef f(xs):\n    return sorted(xs, reverse=True)\n```"
    partial = agree(CODE_PROMPT, a, b)
    assert 0.5 < partial < 1.0
    broken = compare(CODE_PROMPT, [Candidate("a", a), Candidate("b", "```python\n)))(((\n```")])
    assert broken.problems[1] == "no answer" and broken.agreement == 0.0


def test_the_form_comes_from_the_local_answer_when_the_prompt_does_not_say():
    answer = "```python\ndef f(xs):\n    return xs\n```"
    result = compare("Can you help with this list thing?", [Candidate("a", answer), Candidate("b", "Sure, lists.")])
    assert result.form == "code" and result.problems[1] == "no answer"
