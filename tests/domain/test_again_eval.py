"""Precision and recall of the again-cue detector on the labelled sets in tests/data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ticketing.domain.again import find_again_cues

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0

    def add(self, predicted: bool, labelled: bool) -> None:
        if predicted and labelled:
            self.true_positives += 1
        elif predicted:
            self.false_positives += 1
        elif labelled:
            self.false_negatives += 1
        else:
            self.true_negatives += 1

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        relevant = self.true_positives + self.false_negatives
        return self.true_positives / relevant if relevant else 1.0

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f} recall {self.recall:.3f} "
            f"(tp {self.true_positives}, fp {self.false_positives}, "
            f"fn {self.false_negatives}, tn {self.true_negatives})"
        )


def _rows(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _score(rows: list[dict]) -> Score:
    score = Score()
    for row in rows:
        score.add(bool(find_again_cues(row["text"], row.get("lang"))), row["again"])
    return score


CASES = _rows("again_cases.jsonl")
IBM = _rows("again_ibm_sample.jsonl")


def test_labelled_set_meets_the_issue_requirements():
    assert len(CASES) >= 300
    assert {row["lang"] for row in CASES} == {"nl", "en", "de", "fr"}
    negatives = sum(not row["again"] for row in CASES)
    assert negatives >= len(CASES) / 3
    assert any("sms" in row.get("note", "") for row in CASES)
    for row in CASES + IBM:
        assert isinstance(row["text"], str)
        assert row["text"].strip()
        assert isinstance(row["again"], bool)
    assert len({row["text"] for row in CASES}) == len(CASES), "duplicate texts"


def test_precision_and_recall_on_our_labelled_set(record_property):
    score = _score(CASES)
    record_property("again_cases", str(score))
    print(f"again_cases.jsonl: {score}")
    assert score.precision >= 0.9
    assert score.recall >= 0.9


@pytest.mark.parametrize("lang", ["nl", "en", "de", "fr"])
def test_precision_and_recall_per_language(lang):
    score = _score([row for row in CASES if row["lang"] == lang])
    assert score.precision >= 0.9, score
    assert score.recall >= 0.9, score


def test_labelled_set_without_language_hints(record_property):
    # Intake may not know the language of a short SMS: then every language's rules run.
    score = _score([{**row, "lang": None} for row in CASES])
    record_property("again_cases_no_lang", str(score))
    assert score.precision >= 0.9, score
    assert score.recall >= 0.9, score


def test_ibm_customer_care_sample(record_property):
    # Real English tweets, hand-labelled. The rules were tuned on the "dev" half only; the
    # "test" half is held out, so its recall is the honest estimate (see bench/RESULTS.md).
    # The floors below sit a little under the measured figures.
    overall = _score(IBM)
    dev = _score([row for row in IBM if row["split"] == "dev"])
    held_out = _score([row for row in IBM if row["split"] == "test"])
    for name, score in (("ibm", overall), ("ibm_dev", dev), ("ibm_test", held_out)):
        record_property(name, str(score))
        print(f"{name}: {score}")
    assert overall.precision >= 0.9, overall
    assert overall.recall >= 0.75, overall
    assert held_out.precision >= 0.9, held_out
    assert held_out.recall >= 0.6, held_out
