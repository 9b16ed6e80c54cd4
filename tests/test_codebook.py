"""The codebook: the shipped scheme, alias resolution and every validation error, with inline YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError

CODE_IDS = ["intern", "extern", "beleid", "beheer", "strategisch", "operationeel"]

MINI = """
name: Mini
axes:
  - {id: ie, label: Intern / extern, poles: [intern, extern]}
codes:
  - {id: intern, axis: ie, label: Intern, colour: "#000000", definition: binnen, aliases: [Interne capaciteit]}
  - {id: extern, axis: ie, label: Extern, colour: "#FFFFFF", definition: buiten, aliases: [External]}
"""


def write(tmp_path: Path, text: str, name: str = "codebook.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_codebook_has_the_six_codes_on_three_axes() -> None:
    codebook = load_codebook()
    assert codebook.code_ids == CODE_IDS
    assert [axis.poles for axis in codebook.axes] == [
        ("intern", "extern"), ("beleid", "beheer"), ("strategisch", "operationeel"),
    ]
    for code in codebook.codes:
        assert code.id in codebook.axis(code.axis).poles
        assert code.definition and code.colour.startswith("#")
    assert codebook.code("beleid").axis == "beleid_beheer"
    with pytest.raises(KeyError):
        codebook.code("nope")
    with pytest.raises(KeyError):
        codebook.axis("nope")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("intern", "intern"),
        ("Intern", "intern"),
        ("  INTERNE   capaciteit ", "intern"),
        ("Beleidscapaciteit", "beleid"),
        ("Strategische capaciteit", "strategisch"),
        ("operational capacity", "operationeel"),
        ("Beheer", "beheer"),
        ("Externe regie", "extern"),
    ],
)
def test_aliases_resolve_case_and_space_insensitively(name: str, code: str) -> None:
    assert load_codebook().resolve(name) == code


def test_unknown_name_resolves_to_none_and_require_raises() -> None:
    codebook = load_codebook()
    assert codebook.resolve("Financiën") is None
    assert codebook.resolve("") is None
    assert codebook.require("Interne regie", "x.qdpx") == "intern"
    with pytest.raises(InputError, match="unknown code 'Financiën'; expected one of intern, extern") as info:
        codebook.require("Financiën", "export.qdpx")
    assert info.value.path == "export.qdpx"


def test_fingerprint_depends_on_ids_and_axes_not_on_labels(tmp_path: Path) -> None:
    base = load_codebook(write(tmp_path, MINI, "a.yaml"))
    relabelled = load_codebook(write(tmp_path, MINI.replace("label: Intern,", "label: Binnen,"), "b.yaml"))
    recoloured = load_codebook(write(tmp_path, MINI.replace("#000000", "#123456"), "c.yaml"))
    reordered = load_codebook(write(tmp_path, MINI.replace("poles: [intern, extern]", "poles: [extern, intern]"), "d.yaml"))
    assert base.fingerprint() == relabelled.fingerprint() == recoloured.fingerprint()
    assert base.fingerprint() != reordered.fingerprint()
    assert len(base.fingerprint()) == 64


def test_mini_codebook_loads(tmp_path: Path) -> None:
    codebook = load_codebook(write(tmp_path, MINI))
    assert codebook.name == "Mini"
    assert codebook.code_ids == ["intern", "extern"]
    assert codebook.resolve("external") == "extern"
    assert codebook.source == str((tmp_path / "codebook.yaml").resolve())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("axis: ie, label: Extern", "axis: io, label: Extern", "code 'extern' names axis 'io', which is not defined"),
        ("aliases: [External]", "aliases: [Interne capaciteit]", "alias 'Interne capaciteit' maps to both 'intern' and 'extern'"),
        ("aliases: [External]", "aliases: [intern]", "alias 'intern' maps to both"),
        ("label: Extern,", "label: INTERN,", "alias 'INTERN' maps to both"),
        ("id: extern, axis", "id: Extern-2, axis", "code id 'Extern-2' must be lower-case"),
        ('"#FFFFFF"', "red", "colour 'red' is not of the form #rrggbb"),
        ("poles: [intern, extern]", "poles: [intern]", "needs exactly two poles"),
        ("poles: [intern, extern]", "poles: [intern, buiten]", "pole 'buiten', which is not a code"),
        (", definition: buiten", "", "code extern lacks definition"),
        ("{id: ie, label: Intern / extern, poles: [intern, extern]}", "{id: ie, poles: [intern, extern]}", "axis ie lacks label"),
        ("codes:", "kodes:", "the codebook lacks codes"),
        ("  - {id: intern, axis", "  - intern\n  - {id: intern, axis", "code \\? must be a mapping"),
        ("axes:\n  - {id: ie, label: Intern / extern, poles: [intern, extern]}", "axes: {ie: 1}", "'axes' must be a list"),
    ],
)
def test_invalid_codebooks(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in MINI
    path = write(tmp_path, MINI.replace(old, new, 1))
    with pytest.raises(InputError, match=message) as info:
        load_codebook(path)
    assert info.value.path == str(path.resolve())


def test_duplicate_code_id(tmp_path: Path) -> None:
    extra = '  - {id: extern, axis: ie, label: Buiten, colour: "#FFFFFF", definition: x}\n'
    with pytest.raises(InputError, match="duplicate code ids"):
        load_codebook(write(tmp_path, MINI + extra))


def test_pole_on_another_axis(tmp_path: Path) -> None:
    text = MINI.replace(
        "axes:\n", "axes:\n  - {id: bb, label: B, poles: [intern, beheer]}\n"
    ) + '  - {id: beheer, axis: bb, label: Beheer, colour: "#111111", definition: x}\n'
    with pytest.raises(InputError, match="pole 'intern' of axis 'bb' belongs to another axis"):
        load_codebook(write(tmp_path, text))


@pytest.mark.parametrize(("text", "message"), [("", "expected a YAML mapping"), ("axes: [", "not valid YAML"), ("- a\n", "mapping")])
def test_unreadable_codebook(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_codebook(write(tmp_path, text))


def test_missing_codebook(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_codebook(tmp_path / "weg.yaml")
