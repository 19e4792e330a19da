"""Fine-grained classification reward: the answer names exactly one class, the true one.

Visual-RFT's rule (both strings lowercase without spaces and underscores, right when either contains the other;
kept in :mod:`vreward.visual_rft`) pays for answers that do none of the task: ``A and B and C``, ``A & B``,
classes joined by spaces, dashes or bullets, all 20 class names at once, the bare head noun ("crow" for
"American crow", the answer inside the truth), a single letter, "definitely not a X", a hyphenated variant of
another class. The default rule:

* **words, one direction**: answer and truth are compared as word sequences (lowercase; ``_``, ``-`` and other
  punctuation separate words, so "American-crow" is "american crow"); the answer must contain the true name's
  words, in order, as whole words. A name inside the truth ("crow") is not the truth.
* **one class**: with a class list (the row's ``classes`` column, else the ``classes`` option) the answer must
  name exactly one class of the list, the true one, in any sentence; a name inside a longer named class does
  not count ("rose" in "desert rose" names "desert rose"). Without a list the reward cannot tell class names
  from other words, so the answer must be the name alone or in a short sentence of common words
  (:data:`FILLER_WORDS`: "This is an American crow.", "The bird in the image is a rose."; add more with the
  ``extra_words`` option); any other word beside the name ("Fish crow American crow", "A and B") scores 0.
* **a name, not a compound**: no hyphen glued to the name ("rose-like", "desert-rose").
* **not negated**: a mention of the true class preceded (within three words) by a negation ("not", "no",
  "never", "isn't", ...) does not count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from vreward.parsing import answer_text, answer_texts, completion_texts  # noqa: F401 - answer_text: for user rewards
from vreward.reasons import REASON_CODE, ParseReason, ZeroReason
from vreward.rewards.base import Reward, RewardBatch
from vreward.rewards.settings import ClassificationSettings, check_class_names
from vreward.solution import raise_first, read_answers

_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "non", "without", "cannot", "t"})  # t: isn't
_NEGATION_WINDOW = 3
# What lists alternatives: an answer with other words than filler and one of these names several classes.
_LIST_WORDS = frozenset({"or", "and", "vs", "versus", "nor"})
_LISTING = re.compile(r"[,;|&+/\n\t\u2022\u00b7]|(?:^|\s)[-\u2013\u2014*](?=\s|$)")
# Words a short sentence naming a class may hold beside the name when there is no class list.
FILLER_WORDS = frozenset("""
a an the this that these those it its it's s is are was were be been being i we think believe guess say would
most likely probably possibly maybe perhaps certainly clearly looks look like appears appear seems seem to as
answer final my category class species kind type breed variety model family genus of in on at from here there
image picture photo photograph shown shows showing show depicted depicts depict contains contain containing
object animal bird flower plant dog cat car vehicle aircraft airplane plane pet called named identified
""".split())
_SEVERAL = REASON_CODE[ZeroReason.SEVERAL_CLASSES.value]
_NEGATED = REASON_CODE[ZeroReason.NEGATED.value]


def normalize_class(text: str) -> str:
    """Visual-RFT's normalization: lowercase, spaces and underscores removed."""
    return text.replace(" ", "").replace("_", "").lower()


def strip_answer(text: str) -> str:
    """An answer without surrounding whitespace, final punctuation, quotes, backticks and Markdown emphasis
    (``'**Boeing 747.**'`` -> ``'Boeing 747'``), before :func:`normalize_class`."""
    return text.strip().strip(".!\"'`*").strip()


def words(text: str) -> tuple[str, ...]:
    """The lowercase words of ``text`` (runs of letters and digits)."""
    return tuple(_WORD.findall(text.lower()))


@dataclass(frozen=True, eq=False)
class ClassIndex:
    """Class names as word sequences, by first word, longest first (for finding the classes an answer names).

    Compared and hashed by identity: a batch builds one per distinct class list."""

    by_first: Mapping[str, tuple[tuple[str, ...], ...]]

    @classmethod
    def of(cls, names: Sequence[str]) -> ClassIndex:
        index: dict[str, set[tuple[str, ...]]] = {}
        for name in names:
            w = words(name)
            if w:
                index.setdefault(w[0], set()).add(w)
        return cls({k: tuple(sorted(v, key=len, reverse=True)) for k, v in index.items()})

    def mentions(self, tokens: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
        """(position, class words) of each class named in ``tokens``, left to right, longest name first, no
        two overlapping."""
        found = []
        i = 0
        while i < len(tokens):
            match = next((c for c in self.by_first.get(tokens[i], ()) if tokens[i:i + len(c)] == c), None)
            if match is None:
                i += 1
            else:
                found.append((i, match))
                i += len(match)
        return found


def _negated(tokens: tuple[str, ...], position: int) -> bool:
    return any(t in _NEGATIONS for t in tokens[max(0, position - _NEGATION_WINDOW):position])


def _occurrences(tokens: tuple[str, ...], name: tuple[str, ...]) -> list[int]:
    n = len(name)
    return [i for i in range(len(tokens) - n + 1) if tokens[i:i + n] == name]


def judge(answer: str, truth: tuple[str, ...], classes: ClassIndex | None,
          allowed: frozenset[str] = FILLER_WORDS) -> str | None:
    """The reason ``answer`` does not name exactly the class ``truth`` (its words), or None when it does."""
    tokens = words(answer)
    if not tokens:
        return ParseReason.EMPTY_ANSWER.value
    if tokens == truth:
        return None
    at = _occurrences(tokens, truth)
    if classes is not None:
        mentions = classes.mentions(tokens)
        covered = {k for i, c in mentions for k in range(i, i + len(c))}
        mentions += [(i, truth) for i in at if i not in covered]  # the truth may be missing from the list
        named = {c for _, c in mentions}
        if len(named) > 1:
            return ZeroReason.SEVERAL_CLASSES.value
        if named != {truth}:
            return ZeroReason.WRONG_CLASS.value
        at = [i for i, _ in mentions]
    elif not at:
        return ZeroReason.WRONG_CLASS.value
    named_at = [i for i in at if not _negated(tokens, i)]
    if not named_at:
        return ZeroReason.NEGATED.value
    spans = [m.span() for m in _WORD.finditer(answer.lower())]
    start, end = spans[named_at[0]][0], spans[named_at[0] + len(truth) - 1][1]
    if (start >= 2 and answer[start - 1] == "-" and answer[start - 2].isalnum()) or \
            (end + 1 < len(answer) and answer[end] == "-" and answer[end + 1].isalnum()):
        return ZeroReason.WRONG_CLASS.value  # a hyphenated compound of the name ("rose-like") is another name
    if classes is None:
        # without a class list: the name alone, or in a sentence of common words
        i = named_at[0]
        extra = [t for t in tokens[:i] + tokens[i + len(truth):] if t not in allowed]
        if extra:
            listing = _LISTING.search(answer[:start] + " " + answer[end:]) or not _LIST_WORDS.isdisjoint(extra)
            return (ZeroReason.SEVERAL_CLASSES if listing else ZeroReason.EXTRA_WORDS).value
    return None


# The judge of a batch of answers: (answer, truth, row context) -> reason, or None when the answer is right.
Judge = Callable[[str, str, Any], "str | None"]
_NOT_TEXT = REASON_CODE[ParseReason.NOT_TEXT.value]
_NO_ANSWER_TAG = REASON_CODE[ParseReason.NO_ANSWER_TAG.value]


class AnswerReward(Reward):
    """A reward that judges each completion's answer text against its row's true answer: 1.0 when the judge
    finds nothing wrong, else 0.0 with the judge's reason. Text answers need no box scan: the answer is found
    with the scanner's rule by ``str`` methods. GRPO repeats each prompt's truth, and often the answer, in all its
    generations: each distinct (answer, truth, context) of a batch is judged once."""

    def score(self, completions: Sequence[Any], **kwargs: Any) -> RewardBatch:
        texts = completion_texts(completions)
        tag = self.settings.require_answer_tag
        truths, bad_truth = read_answers(kwargs.get("solution"), len(texts), strict=self.settings.strict)
        judge, contexts = self._judge(truths, bad_truth, kwargs)
        rows: list[tuple | None] = list(zip(answer_texts(texts, require_answer_tag=tag), truths, contexts))
        for i in bad_truth:
            rows[i] = None  # scored by zero_bad_truth below
        verdicts = {row: 0 if row is None else _NO_ANSWER_TAG if row[0] is None else REASON_CODE[judge(*row)]
                    for row in dict.fromkeys(rows)}
        codes = np.fromiter(map(verdicts.__getitem__, rows), np.int8, len(rows))
        if None in texts:
            codes[[i for i, text in enumerate(texts) if text is None]] = _NOT_TEXT
        scores = (codes == 0).astype(np.float64)
        self.zero_bad_truth(scores, codes, bad_truth)
        return RewardBatch(scores=scores, codes=codes, texts=texts, require_answer_tag=tag)

    def _judge(self, truths: list[str | None], bad_truth: dict[int, str],
               columns: Mapping[str, Any]) -> tuple[Judge, Sequence[Any]]:
        """The judge of this batch and each row's context (hashable: what else its verdict depends on, e.g. its
        class list); it may add rows to ``bad_truth``."""
        raise NotImplementedError


class AccuracyReward(AnswerReward):
    """1.0 when the answer names exactly one class, the true one (see the module docstring), else 0.0."""

    default_name = "accuracy_reward"
    settings_class = ClassificationSettings
    settings: ClassificationSettings

    def _judge(self, truths: list[str | None], bad_truth: dict[int, str],
               columns: Mapping[str, Any]) -> tuple[Judge, Sequence[Any]]:
        truth_words = _truth_words(truths, bad_truth)
        if bad_truth and self.settings.strict:
            raise_first(bad_truth)
        allowed = self._allowed
        return (lambda answer, truth, classes: judge(answer, truth_words[truth], classes, allowed),
                self._class_indexes(columns, len(truths)))

    @cached_property
    def _allowed(self) -> frozenset[str]:
        return FILLER_WORDS | {w for extra in self.settings.extra_words for w in words(extra)}

    def signals(self, result: RewardBatch) -> dict[str, float]:
        n = len(result.codes)
        return {"several_classes_share": np.count_nonzero(result.codes == _SEVERAL) / n,
                "negated_share": np.count_nonzero(result.codes == _NEGATED) / n}

    def _class_indexes(self, columns: Mapping[str, Any], n: int) -> list[ClassIndex | None]:
        """Each row's class list: the ``classes_column`` of the dataset, else the ``classes`` option."""
        column = columns.get(self.settings.classes_column)
        if column is None:
            index = ClassIndex.of(self.settings.classes) if self.settings.classes is not None else None
            return [index] * n
        if isinstance(column, (str, bytes)) or not hasattr(column, "__len__") or len(column) != n:
            raise ValueError(f"column `{self.settings.classes_column}` must hold one class list per completion ({n})")
        built: dict[tuple[str, ...], ClassIndex] = {}
        out = []
        for row, names in enumerate(column):
            names = tuple(names) if names is not None and not isinstance(names, str) else None
            try:
                check_class_names(names)
            except ValueError:
                raise ValueError(f"column `{self.settings.classes_column}` row {row}: class lists must be lists of "
                                 "non-empty strings") from None
            if names is None:
                out.append(None)
                continue
            if names not in built:
                built[names] = ClassIndex.of(names)
            out.append(built[names])
        return out


def _truth_words(truths: list[str | None], bad_truth: dict[int, str]) -> dict[str | None, tuple[str, ...]]:
    """The words of each distinct true class name (GRPO repeats each truth once per generation); a name without
    letters or digits is added to ``bad_truth``."""
    out = {truth: words(strip_answer(truth)) for truth in set(truths) if truth is not None}
    if not all(out.values()):
        bad_truth.update({row: f"class name {truth!r} has no letters or digits" for row, truth in enumerate(truths)
                          if truth is not None and not out[truth]})
    return out


def make_accuracy_reward(settings: ClassificationSettings | None = None, **options: Any) -> AccuracyReward:
    """Classification accuracy reward with options (see :class:`ClassificationSettings`)."""
    return AccuracyReward.from_options(settings, **options)


accuracy_reward = make_accuracy_reward()
