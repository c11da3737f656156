"""Stop strings with OpenAI semantics, including stop strings split across stream pieces."""

import random

import pytest

from models.stop_strings import StopStringTrimmer, cut_at_stop


def stream_through(pieces: list[str], stops: list[str]) -> str:
    trimmer = StopStringTrimmer(stops)
    return "".join(trimmer.feed(p) for p in pieces) + trimmer.flush()


def test_the_earliest_stop_string_ends_the_text_and_is_not_part_of_it():
    assert cut_at_stop("alpha END beta STOP", ["STOP", "END"]) == "alpha "
    assert cut_at_stop("no stop here", ["STOP"]) == "no stop here"
    assert cut_at_stop("empty stops are ignored", [""]) == "empty stops are ignored"


def test_a_stop_string_split_across_pieces_is_never_sent():
    trimmer = StopStringTrimmer(["</end>"])
    assert trimmer.feed("answer </e") == "answer "  # "</e" may begin the stop string: held back
    assert trimmer.feed("nd> and more") == ""
    assert trimmer.stopped and trimmer.feed("later text") == "" and trimmer.flush() == ""


def test_a_held_back_tail_that_does_not_become_a_stop_string_is_released():
    trimmer = StopStringTrimmer(["</end>"])
    assert trimmer.feed("a </e") == "a "
    assert trimmer.feed("lse") == "</else"
    assert trimmer.feed(" </") == " "
    assert trimmer.flush() == "</"  # the stream ended: what was held back is part of the answer


@pytest.mark.parametrize("seed", range(20))
def test_any_split_of_a_stream_gives_the_same_text_as_cutting_the_whole(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(["ab", "a", "b", "##", "#", " ", "STOP", "ST"]) for _ in range(30))
    stops = rng.sample(["STOP", "##", "bab", "ST#"], k=rng.randint(1, 3))
    cuts = sorted(rng.sample(range(1, len(text)), k=min(8, len(text) - 1)))
    pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
    assert stream_through(pieces, stops) == cut_at_stop(text, stops)


def test_without_stop_strings_pieces_pass_through_at_once():
    trimmer = StopStringTrimmer([])
    assert trimmer.feed("</") == "</" and trimmer.flush() == ""
