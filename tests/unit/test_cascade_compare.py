"""Comparing local answers by form: the same answer in other words agrees, a different one does not."""

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
