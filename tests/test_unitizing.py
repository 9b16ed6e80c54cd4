"""Character-level agreement: span arithmetic, 2 x 2 tables checked by hand, Krippendorff's u-alpha examples."""

from __future__ import annotations

import pytest

from pipeline.core.documents import SpanCoding
from pipeline.reliability.characters import character_report
from pipeline.reliability.unitizing import (
    CharacterTable,
    character_table,
    intersection,
    merge_spans,
    unitizing_alpha,
    unitizing_terms,
)


def test_span_arithmetic() -> None:
    assert merge_spans([(5, 8), (0, 2), (1, 3), (8, 9), (4, 4)]) == [(0, 3), (5, 9)]
    assert intersection([(0, 3), (5, 9)], [(2, 6), (8, 20)]) == 1 + 1 + 1


def test_character_kappa_by_hand() -> None:
    # 20 characters; A coded [0, 10), B coded [5, 15): both 5, only A 5, only B 5, neither 5.
    table = character_table([(0, 10)], [(5, 15)], 20)
    assert table == CharacterTable(both=5, only_first=5, only_second=5, neither=5)
    # p_o = 10/20; each coder coded half: p_e = .5*.5 + .5*.5 = .5 -> kappa 0
    assert table.percent_agreement() == pytest.approx(0.5) and table.cohen_kappa() == pytest.approx(0.0)
    # 100 characters: A [0, 30), B [10, 30) + [80, 90). both 20, only A 10, only B 10, neither 60.
    table = character_table([(0, 30)], [(10, 30), (80, 90)], 100)
    assert (table.both, table.only_first, table.only_second, table.neither) == (20, 10, 10, 60)
    # p_o = .8; p_A = p_B = .3 -> p_e = .09 + .49 = .58 -> kappa = .22 / .42
    assert table.cohen_kappa() == pytest.approx(0.22 / 0.42)
    assert CharacterTable(0, 0, 0, 7).cohen_kappa() is None  # nobody coded anything: undefined, not 1


def _krippendorff_2004() -> tuple[dict, dict]:
    """Krippendorff (2004), Content Analysis 2nd ed., p. 254: continuum [150, 450), coders i and j."""
    def spans(*units: tuple[int, int]) -> list[tuple[int, int]]:
        return [(begin - 150, begin - 150 + length) for begin, length in units]  # (begin, length) -> offsets

    c = {"i": spans((225, 70), (370, 30)), "j": spans((220, 80), (355, 20), (400, 20))}
    k = {"i": spans((180, 60), (300, 50)), "j": spans((180, 60), (300, 50))}
    return c, k


def test_unitizing_alpha_reproduces_krippendorff_2004() -> None:
    c, k = _krippendorff_2004()
    terms_c, terms_k = unitizing_terms([(300, c)]), unitizing_terms([(300, k)])
    assert terms_c is not None and terms_k is not None
    # the book's figures: D_o(c) = .0144, D_e(c) = .0532, alpha_c = .7286; D_o(k) = 0, D_e(k) = .0490
    assert terms_c.observed == pytest.approx(0.0144, abs=5e-5)
    assert terms_c.expected == pytest.approx(0.0532, abs=5e-5)
    assert terms_c.alpha == pytest.approx(0.7286, abs=5e-5)
    assert terms_k.observed == 0 and terms_k.expected == pytest.approx(0.0490, abs=5e-5) and terms_k.alpha == 1.0
    # overall: the book prints .8591 = 1 - .0072 / .0511 from its rounded means; unrounded it is .8587
    assert unitizing_alpha([terms_c, terms_k]) == pytest.approx(0.8591, abs=5e-4)
    assert unitizing_alpha([terms_c, terms_k]) == pytest.approx(1 - (0.0144444 / 2) / ((0.0532218 + 0.0489786) / 2),
                                                                 abs=1e-6)


def test_unitizing_alpha_krippendorff_1995_observed_disagreement() -> None:
    # Krippendorff (1995), p. 57, pair C (Gerret and Gill) on a continuum of 24: D_o = 1/36 (.02777)
    gerret = [(2, 8), (10, 12), (14, 18), (20, 22)]
    gill = [(0, 2), (4, 8), (10, 14), (16, 18), (20, 22)]
    terms = unitizing_terms([(24, {"gerret": gerret, "gill": gill})])
    assert terms is not None and terms.observed == pytest.approx(1 / 36)


def test_sources_form_one_continuum_and_identical_coding_is_perfect() -> None:
    one = unitizing_terms([(50, {"a": [(10, 20)], "b": [(12, 20)]})])
    two = unitizing_terms([(50, {"a": [(10, 20)], "b": [(12, 20)]}), (30, {"a": [], "b": []})])
    assert one is not None and two is not None and one.alpha is not None and two.alpha is not None
    assert two.observed < one.observed  # the same disagreement on a longer continuum
    same = unitizing_terms([(50, {"a": [(10, 20), (30, 35)], "b": [(10, 20), (30, 35)]})])
    assert same is not None and same.alpha == 1.0
    assert unitizing_terms([(50, {"a": [], "b": []})]) is None  # no unit: nothing to compare


def test_character_report_pairs_codes_sources() -> None:
    documents = {"d1": "x" * 20, "d2": "y" * 100}
    codings = [SpanCoding("d1", 0, 10, "K", "A"), SpanCoding("d1", 5, 15, "K", "B"),
               SpanCoding("d2", 0, 30, "K", "A"), SpanCoding("d2", 10, 30, "K", "B"), SpanCoding("d2", 80, 90, "K", "B"),
               SpanCoding("d2", 0, 5, "only A", "A")]
    report = character_report(documents=documents, codings=codings, coders_of={"d1": ["A", "B"], "d2": ["A", "B"]},
                              coders=["A", "B"], codes=["K", "only A"])
    pair = report["pairs"]["A vs B"]
    assert pair["sources"]["d1"]["codes"]["K"]["cohen_kappa"] == pytest.approx(0.0)
    assert pair["sources"]["d2"]["codes"]["K"]["cohen_kappa"] == pytest.approx(0.22 / 0.42)
    pooled_k = pair["codes"]["K"]  # 120 characters: both 25, only A 15, only B 15, neither 65
    assert (pooled_k["both"], pooled_k["only_first"], pooled_k["only_second"], pooled_k["n_characters"]) == (25, 15, 15, 120)
    p_a = 40 / 120
    expected = p_a * p_a + (1 - p_a) * (1 - p_a)
    assert pooled_k["percent_agreement"] == pytest.approx(90 / 120)
    assert pooled_k["cohen_kappa"] == pytest.approx((90 / 120 - expected) / (1 - expected))
    assert set(pooled_k) >= {"percent_agreement", "cohen_kappa", "krippendorff_alpha_u", "n_characters"}
    assert pair["codes"]["only A"]["cohen_kappa"] == pytest.approx(0.0)  # reported, not an error
    kinds = [(d["code"], d["document"], d["start"], d["end"], d["coded_by"]) for d in report["disagreements"]]
    assert kinds == [("K", "d1", 0, 5, ["A"]), ("K", "d1", 10, 15, ["B"]), ("K", "d2", 0, 10, ["A"]),
                     ("K", "d2", 80, 90, ["B"]), ("only A", "d2", 0, 5, ["A"])]
    assert report["per_coder"]["A"]["n_pairs"] == 1
