"""Scoring one answer: against a reference (exact, numeric, multiple choice) or with an LLM judge.

The judge prompts are MT-bench's (Zheng et al. 2023, FastChat ``llm_judge/data/judge_prompts.jsonl``):
``single-v1`` / ``single-math-v1`` for absolute 1–10 ratings and ``pair-v2`` / ``pair-math-v1`` for
pairwise verdicts; the ``-math`` variants are used when the prompt log has a reference answer. They are
quoted verbatim in docs/learning.md. Everything here is pure (no I/O).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Literal

__all__ = [
    "ABSOLUTE_SYSTEM",
    "ABSOLUTE_TEMPLATE",
    "ABSOLUTE_TEMPLATE_REF",
    "PAIRWISE_SYSTEM",
    "PAIRWISE_SYSTEM_REF",
    "PAIRWISE_TEMPLATE",
    "PAIRWISE_TEMPLATE_REF",
    "Verdict",
    "absolute_messages",
    "combine_verdicts",
    "pairwise_messages",
    "parse_rating",
    "parse_verdict",
    "rating_score",
    "reference_score",
]

ABSOLUTE_SYSTEM = "You are a helpful assistant."
ABSOLUTE_TEMPLATE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an "
    "AI assistant to the user question displayed below. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
    "evaluation by providing a short explanation. Be as objective as possible. After providing your "
    "explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: "
    '"[[rating]]", for example: "Rating: [[5]]".\n\n'
    "[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
ABSOLUTE_TEMPLATE_REF = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an "
    "AI assistant to the user question displayed below. Your evaluation should consider correctness and "
    "helpfulness. You will be given a reference answer and the assistant's answer. Begin your evaluation by "
    "comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a scale of 1 to "
    '10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n'
    "[Question]\n{question}\n\n"
    "[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
_PAIRWISE_TAIL = (
    "Avoid any position biases and ensure that the order in which the responses were presented does not "
    "influence your decision. Do not allow the length of the responses to influence your evaluation. Do not "
    "favor certain names of the assistants. Be as objective as possible. After providing your explanation, "
    'output your final verdict by strictly following this format: "[[A]]" if assistant A is better, '
    '"[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
PAIRWISE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows the "
    "user's instructions and answers the user's question better. Your evaluation should consider factors "
    "such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their "
    "responses. Begin your evaluation by comparing the two responses and provide a short explanation. "
    + _PAIRWISE_TAIL
)
PAIRWISE_SYSTEM_REF = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. Your evaluation should consider correctness and "
    "helpfulness. You will be given a reference answer, assistant A's answer, and assistant B's answer. "
    "Your job is to evaluate which assistant's answer is better. Begin your evaluation by comparing both "
    "assistants' answers with the reference answer. Identify and correct any mistakes. " + _PAIRWISE_TAIL
)
_PAIR_ANSWERS = (
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)
PAIRWISE_TEMPLATE = "[User Question]\n{question}\n\n" + _PAIR_ANSWERS
PAIRWISE_TEMPLATE_REF = (
    "[User Question]\n{question}\n\n"
    "[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n" + _PAIR_ANSWERS
)

Message = dict[str, str]
Verdict = Literal["A", "B", "C"]


def absolute_messages(question: str, answer: str, reference: str | None = None) -> list[Message]:
    """The judge conversation for an absolute 1–10 rating of ``answer``."""
    if reference is None:
        user = ABSOLUTE_TEMPLATE.format(question=question, answer=answer)
    else:
        user = ABSOLUTE_TEMPLATE_REF.format(question=question, answer=answer, reference=reference)
    return [{"role": "system", "content": ABSOLUTE_SYSTEM}, {"role": "user", "content": user}]


def pairwise_messages(
    question: str, answer_a: str, answer_b: str, reference: str | None = None
) -> list[Message]:
    """The judge conversation comparing assistant A's and B's answers."""
    if reference is None:
        system, user = (
            PAIRWISE_SYSTEM,
            PAIRWISE_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b),
        )
    else:
        system, user = (
            PAIRWISE_SYSTEM_REF,
            PAIRWISE_TEMPLATE_REF.format(
                question=question, answer_a=answer_a, answer_b=answer_b, reference=reference
            ),
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_NUM = r"(\d+(?:\.\d+)?)"
_RATING_PATTERNS = (
    re.compile(r"\[\[\s*" + _NUM + r"\s*\]\]"),  # MT-bench: [[7]]
    re.compile(r"rating\s*[:=]?\s*\[?\s*" + _NUM, re.I),  # Rating: 7 / Rating: [7]
    re.compile(_NUM + r"\s*(?:/|out of)\s*10\b", re.I),  # 7/10, 7 out of 10
    re.compile(r"\b(?:score|grade)\s*[:=]?\s*" + _NUM, re.I),  # Score: 7
)


def parse_rating(text: str) -> float | None:
    """The 1–10 rating in a judge's answer (the last match of the most specific form), else None."""
    for pattern in _RATING_PATTERNS:
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def rating_score(rating: float) -> float:
    """A 1–10 rating as a score in [0, 1]: (n − 1) / 9."""
    return min(max((rating - 1.0) / 9.0, 0.0), 1.0)


_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


def parse_verdict(text: str) -> Verdict | None:
    """``A``, ``B`` or ``C`` (tie) from a pairwise judge's answer (the last ``[[X]]``), else None."""
    found = _VERDICT.findall(text)
    if found:
        v = found[-1]
        return "A" if v == "A" else "B" if v == "B" else "C"
    low = text.lower()
    if "[[tie]]" in low:
        return "C"
    return None


def combine_verdicts(candidate_first: Verdict, anchor_first: Verdict) -> float:
    """The candidate's score against the anchor from both orders (position swap, as in MT-bench).

    ``candidate_first``: the verdict with the candidate as assistant A; ``anchor_first``: as assistant B.
    The two verdicts are averaged and rounded to win/tie/loss: a win in one order and a tie in the other
    is a win (MT-bench would call it a tie); verdicts that flip with the order (position bias) are a tie.
    """
    first = {"A": 1.0, "B": 0.0, "C": 0.5}[candidate_first]
    second = {"A": 0.0, "B": 1.0, "C": 0.5}[anchor_first]
    total = first + second
    return 1.0 if total > 1.0 else 0.0 if total < 1.0 else 0.5


# --- references ------------------------------------------------------------------------------------

_PUNCT_EDGES = " \t\n\r.,;:!?\"'`*()[]{}"
_ANSWER_MARKERS = re.compile(
    r"(?:final answer|the answer is|answer\s*:|####|\\boxed\{)\s*(.+)", re.I | re.DOTALL
)
_LETTER_PATTERNS = (
    re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?\b([A-J])\b\)?", re.I),
    re.compile(r"^\s*\(?([A-J])\)?(?:[.):\s]|$)"),
    re.compile(r"\(([A-J])\)"),
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form; surrounding punctuation and quotes dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).strip(_PUNCT_EDGES)


def _final_answer(text: str) -> str:
    """The part after the last answer marker ("The answer is", "Answer:", "####", \\boxed{}), else all."""
    matches = list(_ANSWER_MARKERS.finditer(text))
    return matches[-1].group(1).rstrip("}") if matches else text


def _number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _letter(text: str) -> str | None:
    for pattern in _LETTER_PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(1).upper()
    return None


def reference_score(answer: str, reference: str, *, rel_tol: float = 1e-4, abs_tol: float = 1e-6) -> float:
    """1.0 when ``answer`` matches ``reference``, else 0.0.

    * a single letter A–J reference: multiple choice, the letter the answer picks ("The answer is (B)",
      "B.", "Answer: b");
    * a numeric reference: the last number of the answer's final part, within ``rel_tol``/``abs_tol``;
    * otherwise: the normalised answer (or its final part) equals the normalised reference.
    """
    ref = normalise(reference)
    final = _final_answer(answer)
    if re.fullmatch(r"[a-j]", ref):
        letter = _letter(final) or _letter(answer)
        return 1.0 if letter is not None and letter.lower() == ref else 0.0
    ref_num = _number(ref) if _NUMBER.fullmatch(ref.replace(" ", "")) else None
    if ref_num is not None:
        got = _number(final)
        ok = got is not None and math.isclose(got, ref_num, rel_tol=rel_tol, abs_tol=abs_tol)
        return 1.0 if ok else 0.0
    return 1.0 if ref in (normalise(answer), normalise(final)) else 0.0
