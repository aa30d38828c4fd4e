"""Scoring one answer: reference matching and parsing the judge's rating or verdict."""

from __future__ import annotations

import pytest

from switchman.learning.judge import (
    absolute_messages,
    combine_verdicts,
    pairwise_messages,
    parse_rating,
    parse_verdict,
    rating_score,
    reference_score,
)


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("The answer is fine.\n\nRating: [[7]]", 7.0),
        ("[[8.5]]", 8.5),
        ("I considered [[3]] but settle on Rating: [[9]]", 9.0),  # the last [[n]] wins
        ("Rating: 6", 6.0),
        ("Overall 4/10.", 4.0),
        ("I'd give it 5 out of 10", 5.0),
        ("Score: 2", 2.0),
        ("[[11]]", None),  # out of the scale
        ("a fine answer", None),
    ],
)
def test_parse_rating(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


def test_rating_score_maps_1_to_10_onto_0_to_1() -> None:
    assert (rating_score(1), rating_score(10), rating_score(8)) == (0.0, 1.0, pytest.approx(7 / 9))


def test_parse_verdict_and_position_swap() -> None:
    assert parse_verdict("A is more helpful. [[A]]") == "A"
    assert parse_verdict("first [[A]] then on reflection [[B]]") == "B"
    assert parse_verdict("[[C]]") == "C" and parse_verdict("no idea") is None
    # candidate as A, then as B
    assert combine_verdicts("A", "B") == 1.0  # wins in both orders
    assert combine_verdicts("B", "A") == 0.0
    assert combine_verdicts("A", "A") == 0.5  # position bias: inconsistent = tie
    assert combine_verdicts("A", "C") == 1.0 and combine_verdicts("C", "A") == 0.0
    assert combine_verdicts("C", "C") == 0.5


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("The answer is 42.", "42", 1.0),
        ("It is 41, not 42? No: the answer is 41", "42", 0.0),
        ("#### 1,000", "1000", 1.0),
        ("x = 3.14159", "3.1416", 1.0),  # within the relative tolerance (1e-4)
        ("x = 3.15", "3.1416", 0.0),
        ("\\boxed{0.5}", "0.50", 1.0),
        ("The answer is (B).", "B", 1.0),
        ("B. Paris", "b", 1.0),
        ("Answer: C", "B", 0.0),
        ("  Paris. ", "paris", 1.0),
        ("Final answer: Paris", "Paris", 1.0),
        ("Paris, France", "Paris", 0.0),
    ],
)
def test_reference_score(answer: str, reference: str, score: float) -> None:
    assert reference_score(answer, reference) == score


def test_judge_prompts_carry_the_question_answers_and_reference() -> None:
    sys_msg, user = absolute_messages("Q?", "ans", "ref")
    assert sys_msg["content"] == "You are a helpful assistant."
    assert "[Question]\nQ?" in user["content"] and "Reference Answer]\nref" in user["content"]
    assert '"Rating: [[5]]"' in user["content"]
    system, user = pairwise_messages("Q?", "one", "two")
    assert '"[[C]]" for a tie' in system["content"]
    assert "Assistant A's Answer]\none" in user["content"] and "Assistant B's Answer]\ntwo" in user["content"]
