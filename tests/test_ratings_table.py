"""Ratings tables as people have them: NA and other missing values, ';' and tab, BOM, wide tables, bad layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.agreement import agreement
from pipeline.core.errors import InputError
from pipeline.reliability.coefficients import krippendorff_alpha
from pipeline.reliability.table import read_ratings_table, sniff_delimiter

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders x 12 units, nominal alpha .743
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
CODERS = ["A", "B", "C", "D"]


def wide_text(delimiter: str, missing: str = "NA", unit_column: bool = True) -> str:
    header = (["unit"] if unit_column else []) + CODERS
    lines = [delimiter.join(header)]
    for u in range(12):
        cells = [missing if row[u] is None else str(row[u]) for row in K2011]
        lines.append(delimiter.join(([f"u{u + 1}"] if unit_column else []) + cells))
    return "\n".join(lines) + "\n"


def long_text(delimiter: str, missing: str | None) -> str:
    lines = [delimiter.join(["unit", "coder", "value"])]
    for coder, row in zip(CODERS, K2011):
        for u, value in enumerate(row, 1):
            if value is not None:
                lines.append(delimiter.join([f"u{u}", coder, str(value)]))
            elif missing is not None:
                lines.append(delimiter.join([f"u{u}", coder, missing]))
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "ratings.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_na_is_missing_not_a_category(tmp_path: Path) -> None:
    table = read_ratings_table(write(tmp_path, long_text(",", "NA")), level="nominal")
    assert table.n_missing == 7 and table.missing_markers == {"NA": 7}
    assert table.missing_by_coder == {"A": 3, "B": 1, "C": 2, "D": 1}
    assert round(krippendorff_alpha(table.ratings), 3) == 0.743  # the published value: NA left out
    # what the old reader did: NA as a sixth category, which lowers alpha without a word
    as_category = np.where(np.isnan(table.ratings), 6.0, table.ratings)
    assert round(krippendorff_alpha(as_category), 3) != 0.743


@pytest.mark.parametrize("marker", ["", ".", "N/A", "NA"])
def test_every_missing_marker_gives_the_same_matrix(tmp_path: Path, marker: str) -> None:
    without = read_ratings_table(write(tmp_path, long_text(",", None), "plain.csv"), level="nominal")
    marked = read_ratings_table(write(tmp_path, long_text(",", marker)), level="nominal")
    order = [without.unit_ids.index(u) for u in marked.unit_ids]  # units in order of first appearance
    np.testing.assert_array_equal(marked.ratings, without.ratings[:, order])
    assert marked.n_missing == 7 and without.n_missing == 0


def test_extra_missing_marker(tmp_path: Path) -> None:
    path = write(tmp_path, long_text(",", "-99"))
    plain = read_ratings_table(path, level="interval")  # without --missing, -99 is a rating like any other
    assert plain.n_missing == 0 and np.nanmin(plain.ratings) == -99
    table = read_ratings_table(path, level="interval", missing=["-99"])
    assert table.n_missing == 7 and round(krippendorff_alpha(table.ratings, level="interval"), 3) == 0.849


@pytest.mark.parametrize(("delimiter", "bom"), [(";", True), ("\t", False), (",", True)])
def test_wide_tables_with_any_delimiter(tmp_path: Path, delimiter: str, bom: bool) -> None:
    table = read_ratings_table(write(tmp_path, wide_text(delimiter), bom=bom), level="nominal")
    assert table.layout == "wide" and table.delimiter == delimiter
    assert table.coder_ids == CODERS and table.unit_ids[:2] == ["u1", "u2"]
    assert round(krippendorff_alpha(table.ratings), 3) == 0.743 and table.n_missing == 7


def test_wide_table_without_unit_column_numbers_the_units(tmp_path: Path) -> None:
    table = read_ratings_table(write(tmp_path, wide_text(";", "", unit_column=False)), level="interval")
    assert table.unit_ids[0] == "1" and round(krippendorff_alpha(table.ratings, level="interval"), 3) == 0.849


def test_semicolon_long_with_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "unit;coder;value\nu1;A;1,5\nu1;B;1,5\nu2;A;2\nu2;B;3,25\nu3;A;NA\nu3;B;1\n")
    table = read_ratings_table(path, level="interval")
    assert table.layout == "long" and table.delimiter == ";"
    np.testing.assert_array_equal(table.ratings, [[1.5, 2.0, np.nan], [1.5, 3.25, 1.0]])
    assert sniff_delimiter('"a,b";c;d') == ";"


def test_layout_chosen_explicitly(tmp_path: Path) -> None:
    path = write(tmp_path, wide_text(","))
    with pytest.raises(InputError, match="missing column.*for the long layout"):
        read_ratings_table(path, layout="long")
    assert read_ratings_table(path, layout="wide").layout == "wide"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit;A\nu1;1\n", "wide table needs a column per coder"),
        ("unit,coder\nu1,A\n", "missing column.*value"),
        ("unit,A,B\nu1,1,2,3\n", "line 2: 4 fields but the header has 3"),
        ("unit,A,A\nu1,1,2\n", "line 1: coder 'A' names two columns"),
        ("unit,A,B\nu1,1,2\nu1,2,2\n", "line 3: unit 'u1' again \\(first on line 2\\)"),
        ("unit,coder,value\nu1,A,1\nu1,B,1\nu1,A,2\n", "line 4: coder 'A' rated unit 'u1' again with a different"),
        ("unit,A,B\nu1,1,NA\nu2,NA,2\n", "no unit is rated by two or more coders"),
        ("unit,A,B\nu1,1,NA\nu2,2,\n", "only one coder \\('A'\\)"),
        ("unit,A,B\nu1,low,high\n", "line 2: value 'low' is not a finite number.*missing rating as NA"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    level = "interval" if "low" in text else "nominal"
    with pytest.raises(InputError, match=message) as error:
        read_ratings_table(path, level=level)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_spreadsheet_says_why_not(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="save the sheet as CSV"):
        read_ratings_table(write(tmp_path, "PK", "ratings.xlsx"))


def test_agreement_report_on_a_dutch_excel_table(tmp_path: Path) -> None:
    path = write(tmp_path, wide_text(";", ""), bom=True)
    out = tmp_path / "report.json"
    report = agreement(inputs=[path], output=out, n_boot=0)
    written = json.loads(out.read_text())
    assert written["krippendorff_alpha"] == 0.7434  # rounded to 4 decimals for reading
    assert report["krippendorff_alpha"] != 0.7434  # full precision for Python callers
    assert written["table"]["layout"] == "wide" and written["table"]["delimiter"] == ";"
    assert written["table"]["n_missing"] == 7 and written["table"]["missing_by_coder"] == {"A": 3, "B": 1, "C": 2, "D": 1}
    assert any("7 missing rating(s)" in note for note in written["notes"])
    assert set(written["pairs"]) == {f"{a} vs {b}" for i, a in enumerate(CODERS) for b in CODERS[i + 1:]}
    assert written["pairs"]["A vs B"]["cohen_kappa"] is not None
    coders = written["per_coder"]
    # C disagrees most: leaving C out raises the others' alpha above the overall one
    assert coders["C"]["krippendorff_alpha_without"] > written["krippendorff_alpha"]
    assert max(coders, key=lambda c: coders[c]["krippendorff_alpha_without"]) == "C"
    html = tmp_path / "report.html"
    agreement(inputs=[path], output=html, n_boot=0)
    page = html.read_text(encoding="utf-8")
    assert "Missing ratings:</strong> 7" in page and "Per coder" in page and "A vs B" in page


def test_command_line_missing_and_layout(tmp_path: Path) -> None:
    from tests.test_agreement_cli import run_cli

    path = write(tmp_path, "unit;A;B;C\nu1;1;1;-99\nu2;2;2;2\nu3;3;-99;3\nu4;1;2;1\n")
    out = tmp_path / "r.json"
    result = run_cli("agreement", str(path), "--missing", "-99", "--level", "interval", "--layout", "wide",
                     "-o", str(out), "--n-boot", "0")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["table"]["missing_by_coder"] == {"B": 1, "C": 1} and report["n_units"] == 4
    out.unlink()
    result = run_cli("agreement", str(path), "--layout", "long", "-o", str(out))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and not out.exists()
    assert "missing column(s) coder, value for the long layout" in result.stderr
