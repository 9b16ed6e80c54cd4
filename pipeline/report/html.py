"""The readable HTML reports of `capcode agreement` and `capcode evaluate`: one self-contained file each.

No scripts, web fonts, stylesheets or images from elsewhere: inline CSS and inline SVG (`pipeline.report.svg`),
so the file opens offline, can be mailed, archived and printed. Written for a researcher who has never seen
the code: every coefficient is explained in words, every table says which data and how many units, and a
banner says so when any of the data is synthetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.report.layout import _page, _section
from pipeline.report.svg import IntervalRow, bar_chart, forest_plot, heatmap

COEFFICIENT_NAMES = {
    "percent_agreement": "Percent agreement",
    "krippendorff_alpha": "Krippendorff's alpha",
    "cohen_kappa": "Cohen's kappa",
    "scott_pi": "Scott's pi",
    "fleiss_kappa": "Fleiss' kappa",
    "gwet_ac1": "Gwet's AC1",
    "brennan_prediger": "Brennan-Prediger",
}


EXPLANATIONS = [
    ("Percent agreement",
     "The share of coder pairs that gave a fragment the same answer, averaged over fragments. Easy to read, but "
     "it ignores chance: when a code is rare, two coders who both almost never give it agree on most fragments "
     "without agreeing on anything that matters."),
    ("Krippendorff's alpha",
     "1 minus (disagreement observed) / (disagreement expected if the coders had assigned their answers at "
     "random, in the proportions they used). 1 is perfect agreement, 0 is what chance would give, below 0 is "
     "systematic disagreement. Works for any number of coders and tolerates fragments that not every coder "
     "coded. Krippendorff advises relying on data with alpha of at least 0.80 and drawing only tentative "
     "conclusions between 0.667 and 0.80 (the dashed lines in the plots)."),
    ("Cohen's kappa",
     "Agreement between exactly two coders, corrected for chance using each coder's own proportions. Shown "
     "only when two coders (or the model and one coder) are compared."),
    ("Scott's pi",
     "Like Cohen's kappa, but chance is computed from the proportions of both coders pooled, as if they drew "
     "from one common distribution."),
    ("Fleiss' kappa",
     "Scott's pi generalised to more than two coders: chance from the average proportion of each category."),
    ("Gwet's AC1",
     "A chance-corrected coefficient whose chance term stays small when one answer dominates (for example a "
     "code that is absent from most fragments), where kappa and alpha can be low despite high agreement. Its "
     "chance term depends on the number of categories: for codes and axes capcode uses the codebook's (2 per "
     "code, 4 per axis); for a ratings table, the categories given with --categories, else those that occur."),
    ("Brennan-Prediger",
     "Chance-corrected agreement assuming every category is equally likely by chance (1 / number of "
     "categories, counted as for Gwet's AC1)."),
    ("95% interval",
     "The units (fragments) were resampled with replacement many times (the bootstrap) and the coefficient recomputed "
     "each time; the interval holds the middle 95% of those values. It shows how much the figure could move "
     "with another sample of fragments of the same kind: a wide interval means few fragments or few "
     "occurrences of the code. It says nothing about other coders. Where a coefficient is undefined (for "
     "instance when a code never occurs, so there is nothing to agree on) the table says 'undefined' and the "
     "notes give the reason."),
]

EVALUATION_EXPLANATIONS = [
    ("Precision", "Of the fragments the system gave the code, the share that the reference coder also gave it."),
    ("Recall", "Of the fragments the reference coder gave the code, the share the system found."),
    ("F1", "The harmonic mean of precision and recall: high only when both are. 0 when the system finds none of "
           "the reference's fragments; undefined when the code occurs nowhere and is never predicted."),
    ("Support", "How many fragments the reference coder gave the code: figures on a small support are fragile."),
    ("Macro-F1", "The plain average of the F1 of the codes (per axis: of its two poles), so rare codes count as "
                 "much as frequent ones."),
    ("Confusion matrix", "Rows: what the reference coder said; columns: what the model predicted; the diagonal "
                         "(outlined) holds the agreements. Per axis a fragment falls in one of four categories: "
                         "only the first pole, only the second, both, or neither."),
    ("Baselines", "The same train fragments also trained two simple systems: 'majority' always gives the answer "
                  "most train fragments have, 'tfidf' is a word-count classifier (TF-IDF and logistic regression). "
                  "A model that does not beat them has learnt little."),
    ("Agreement with the reference", "Krippendorff's alpha and Cohen's kappa between the system and the "
                                     "reference coder, read exactly like agreement between two human coders."),
]


# --------------------------------------------------------------------------- building blocks


def _num(value: float | None, digits: int = 2) -> str:
    return '<span class="na">n/a</span>' if value is None else f"{value:.{digits}f}"


def _coefficient_cell(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    if value is None:
        notes = summary.get("notes", [])
        reason = next((n for n in notes if n.startswith(key)), notes[0] if notes else "undefined")
        return f'<td><span class="na" title="{escape(reason)}">undefined</span></td>'
    interval = summary.get("ci95", {}).get(key)
    ci = "" if interval is None else f'<br><span class="ci">[{interval[0]:.2f}, {interval[1]:.2f}]</span>'
    return f"<td>{value:.2f}{ci}</td>"


def summary_table(rows: Sequence[tuple[str, dict[str, Any]]], *, caption: str, first_column: str = "What") -> str:
    """A table of agreement summaries: one row each, every coefficient with its 95% interval below it."""
    head = "".join(f"<th>{escape(name)}</th>" for name in COEFFICIENT_NAMES.values())
    body = []
    for label, summary in rows:
        cells = "".join(_coefficient_cell(summary, key) for key in COEFFICIENT_NAMES)
        body.append(f'<tr><td class="l">{escape(label)}</td><td>{summary["n_units"]}</td>'
                    f'<td>{summary["n_coders"]}</td>{cells}</tr>')
    return (f"<table><caption>{escape(caption)}</caption><thead><tr><th class=\"l\">{escape(first_column)}</th>"
            f"<th>Units</th><th>Coders</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _interval_row(label: str, summary: dict[str, Any], key: str = "krippendorff_alpha", series: int = 0) -> IntervalRow:
    interval = summary.get("ci95", {}).get(key)
    low, high = interval or (None, None)
    return IntervalRow(label, summary.get(key), low, high, series=series)


def _explain(items: Iterable[tuple[str, str]]) -> str:
    return '<dl class="explain">' + "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in items) + "</dl>"


def _notes(notes: Iterable[str]) -> str:
    notes = list(dict.fromkeys(notes))
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"


def _bootstrap_text(bootstrap: dict[str, Any]) -> str:
    if not bootstrap.get("n_boot"):
        return "No bootstrap intervals were computed."
    return (f"Intervals: {bootstrap.get('confidence', 0.95):.0%} percentile bootstrap over units, "
            f"{bootstrap['n_boot']} resamples, seed "
            f"{bootstrap['seed']}.")


# --------------------------------------------------------------------------- agreement report


def agreement_page(report: dict[str, Any], *, mode: str = "coded", inputs: Sequence[str] = (), level: str = "nominal",
                   bootstrap: dict[str, Any] | None = None) -> str:
    """The HTML page of `capcode agreement` (coded material by segments or characters, or a ratings table)."""
    if mode == "csv":
        return _csv_agreement_page(report, inputs=inputs, level=level, bootstrap=bootstrap or {})
    if report.get("unit") == "character":
        return _character_agreement_page(report)
    coders = report["coders"]
    data = report["data"]
    unit = report.get("unit", "fragment")
    banner = ("Some of the coded material is synthetic (made up for development): these figures show that the "
              "method works, not how reliable real coding is.") if report.get("synthetic") else None
    per_coder = ", ".join(f"{c}: {n}" for c, n in data.get("units_per_coder", data.get("fragments_per_coder", {})).items())
    model = data.get("model")
    model_text = (f" The coder 'model' is the trained model {model['identity']} ({model['directory']}), "
                  "predicting on the same fragments." if model else "")
    capcode = report.get("scheme", {}).get("codebook", "capcode") == "capcode"
    compared = data.get(f"n_{unit}s_compared", data.get("n_codable_fragments_coded"))
    which_units = ("respondent fragments" if capcode and unit == "fragment" else f"{unit}s")
    intro = _section(
        "Which data",
        f"<p>Inputs: {escape(', '.join(report['inputs']))}. {data['n_documents']} documents, cut into "
        f"{data.get(f'n_{unit}s', data.get('n_fragments'))} {unit}s; {compared} {which_units} belong to documents "
        f"that at least one coder coded. Coders: {escape(', '.join(coders))} ({which_units} each rated: "
        f"{escape(per_coder)}).{escape(model_text)}</p>"
        f"<p><strong>Unit of analysis:</strong> {escape(report.get('unit_description', unit))}.</p>"
        + _scheme_text(report)
        + "<p>A coder is only compared on units of documents they coded"
        + (", and only on the axes they coded. Per axis the answer is one of four categories (only the first "
           "pole, only the second, both, neither)." if report.get("per_axis") else ".")
        + " 'Units' in the tables counts what was compared: units rated by at least two of the coders (in the "
        f"pooled figure: unit x code decisions). {escape(_bootstrap_text(report.get('bootstrap', {})))}</p>"
        + _missing_text(report.get("missing")),
    )
    categories = report.get("categories", {})
    pooled = _section(
        "All coders, all codes together",
        summary_table([("all codes pooled", report)], caption=f"{', '.join(coders)}: every code decision on every "
                      f"{unit} is one unit"),
    )
    per_code_parts = [summary_table([(code, s) for code, s in report["per_code"].items()],
                                    caption="All coders, one code at a time", first_column="Code")]
    if report.get("per_axis"):
        per_code_parts.append(summary_table([(f"{axis} ({' / '.join(categories.get(axis, []))})", s)
                                             for axis, s in report["per_axis"].items()],
                                            caption="All coders, one axis at a time (four categories)",
                                            first_column="Axis"))
    per_code_parts.append('<div class="plots">' + forest_plot(
        [_interval_row(code, s) for code, s in list(report["per_code"].items())[:60]]
        + [_interval_row(axis, s, series=1) for axis, s in report.get("per_axis", {}).items()],
        title="Krippendorff's alpha per code" + (" and per axis" if report.get("per_axis") else "") + ", all coders",
        legend=("code", "axis") if report.get("per_axis") else ("code",),
    ) + "</div>")
    per_code = _section("Per code", *per_code_parts)
    pair_parts = []
    if report.get("pairs"):
        pair_parts.append(summary_table([(key, pair) for key, pair in report["pairs"].items()],
                                        caption="Every pair of coders, all codes pooled", first_column="Pair"))
    for key, pair in report.get("pairs", {}).items():
        rows = [("all codes pooled", pair), *pair["per_code"].items(), *pair.get("per_axis", {}).items()]
        pair_parts.append(f"<h3>{escape(key)}</h3>" + summary_table(rows, caption=f"{key}: pooled, per code"
                                                                   + (", per axis" if pair.get("per_axis") else "")))
    if report.get("pairs"):
        forest_rows = [_interval_row(f"{name} \u2014 {key}", s, series=i)
                       for i, (key, pair) in enumerate(report["pairs"].items())
                       for name, s in [*list(pair["per_code"].items())[:30], *pair.get("per_axis", {}).items()]]
        pair_parts.append('<div class="plots">' + forest_plot(
            forest_rows, title="Krippendorff's alpha per pair of coders", legend=list(report["pairs"])[:4],
            width=440) + "</div>")
    pairs = _section("Per pair of coders", *pair_parts) if pair_parts else ""
    coders_section = _section("Per coder", _per_coder_table(report.get("per_coder", {}), kind="segments"))
    notes = _section("Notes", _notes(report.get("notes", [])
                     + [f"{name}: {n}" for name, s in report["per_code"].items() for n in s["notes"]]
                     + [f"{name}: {n}" for name, s in report.get("per_axis", {}).items() for n in s["notes"]]))
    return _page("Agreement between coders", f"{len(coders)} coders: {', '.join(coders)}", banner,
                 [intro, _review_section(report.get("review")), pooled, per_code, pairs, coders_section,
                  _disagreement_section(report, unit),
                  _section("How to read the coefficients", _explain(EXPLANATIONS)), notes])


def _share(part: int, whole: int) -> str:
    return "" if whole == 0 else f"{part / whole:.2f}"


def _review_section(review: dict[str, Any] | None) -> str:
    """The reviewed suggestions (`capcode agreement --reviewer`): per code accepted, rejected and added."""
    if not review:
        return ""
    reviewed = "; ".join(f"{escape(path)}: {len(info['documents'])} of {info['n_interviews_in_project']} "
                         f"interviews ({escape(info['marked_how'])})" for path, info in review["inputs"].items())
    parts = [f"<p>The reviewer {escape(review['reviewer'])} reviewed {reviewed}. Only those interviews are compared. "
             "A suggestion the reviewer coded again under their own user is <em>accepted</em>, one they left alone "
             "<em>rejected</em>; a code of the reviewer's that no suggestion proposed is <em>added</em>. Counted per "
             "fragment and code. Share accepted = accepted / (accepted + rejected); share found = accepted / "
             "(accepted + added).</p>"]
    for suggester, per_code in review["outcomes"].items():
        rows = "".join(
            f"<tr><td class=\"l\">{escape(code)}</td><td>{n['accepted']}</td><td>{n['rejected']}</td>"
            f"<td>{n['added']}</td><td>{_share(n['accepted'], n['accepted'] + n['rejected'])}</td>"
            f"<td>{_share(n['accepted'], n['accepted'] + n['added'])}</td></tr>" for code, n in per_code.items())
        parts.append(f"<table><caption>Suggestions by {escape(suggester)}</caption><thead><tr><th class=\"l\">Code"
                     "</th><th>Accepted</th><th>Rejected</th><th>Added</th><th>Share accepted</th>"
                     f"<th>Share found</th></tr></thead><tbody>{rows}</tbody></table>")
    return _section("Reviewed suggestions", *parts)


def _scheme_text(report: dict[str, Any]) -> str:
    scheme = report.get("scheme") or {}
    if scheme.get("codebook", "capcode") == "capcode":
        return "<p><strong>Codes:</strong> capcode's six capacity codes (configs/codebook.yaml) and their three axes.</p>"
    used = scheme.get("codings_per_code", {})
    coders = report.get("coders", [])
    single = [code for code, by in used.items() if len([c for c in by if c in coders]) == 1]
    parts = [f"<p><strong>Codes:</strong> the project's own codes ({len(scheme.get('codes', []))})"]
    if scheme.get("selection"):
        parts.append(f", chosen with --codes {escape(', '.join(scheme['selection']))}")
    if scheme.get("depth"):
        parts.append(f", sub-codes rolled up to level {scheme['depth']}")
    parts.append(f". {escape(str(scheme.get('reason', '')))}.")
    if scheme.get("n_codings_not_selected"):
        parts.append(f" {scheme['n_codings_not_selected']} codings of codes not chosen were left out.")
    if single:
        parts.append(f" Used by one coder only ({len(single)}): {escape(', '.join(single[:20]))}"
                     f"{' ...' if len(single) > 20 else ''}; they count as disagreement.")
    return "".join(parts) + "</p>"


def _missing_text(missing: dict[str, Any] | None) -> str:
    if not missing:
        return ""
    by = ", ".join(f"{escape(c)}: {n}" for c, n in missing.get("by_coder", {}).items())
    return (f"<p><strong>Missing ratings:</strong> {missing['n_missing']} of {missing['n_decisions']} coder x unit x "
            f"code decisions were not made (the coder did not code that document or axis): {by}. They are left out "
            "of the coefficients, never counted as 'absent'.</p>")


PER_CODER_COLUMNS = {
    "segments": [("n_units_rated", "Units rated", 0), ("n_pairs", "Pairs", 0),
                 ("mean_percent_agreement", "Mean percent agreement", 2), ("mean_cohen_kappa", "Mean Cohen's kappa", 2),
                 ("mean_krippendorff_alpha", "Mean Krippendorff's alpha", 2),
                 ("krippendorff_alpha_without", "Alpha of the others without this coder", 2)],
    "characters": [("n_pairs", "Pairs", 0), ("mean_percent_agreement", "Mean percent agreement", 2),
                   ("mean_cohen_kappa", "Mean Cohen's kappa", 2),
                   ("mean_krippendorff_alpha_u", "Mean unitizing alpha", 2)],
    "table": [("n_units_rated", "Units rated", 0), ("n_missing", "Missing", 0), ("n_pairs", "Pairs", 0),
              ("mean_percent_agreement", "Mean percent agreement", 2), ("mean_cohen_kappa", "Mean Cohen's kappa", 2),
              ("mean_krippendorff_alpha", "Mean Krippendorff's alpha", 2),
              ("krippendorff_alpha_without", "Alpha of the others without this coder", 2)],
}


def _per_coder_table(rows: dict[str, dict[str, Any]], *, kind: str) -> str:
    if not rows:
        return ""
    columns = PER_CODER_COLUMNS[kind]
    head = "".join(f"<th>{escape(name)}</th>" for _, name, _ in columns)
    body = "".join(f'<tr><td class="l">{escape(coder)}</td>'
                   + "".join(f"<td>{_num(row.get(key), digits) if digits else row.get(key, '')}</td>"
                             for key, _, digits in columns) + "</tr>" for coder, row in rows.items())
    return ("<p>Which coder disagrees with the others: each coder's mean agreement over the pairs they are in "
            "(all codes pooled); with three or more coders, the alpha of the others when this coder is left out "
            "(higher than the overall alpha: this coder lowers it).</p>"
            f"<table><caption>Per coder</caption><thead><tr><th class=\"l\">Coder</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _disagreement_section(report: dict[str, Any], unit: str) -> str:
    items = report.get("disagreements") or []
    total = report.get("n_disagreements", len(items))
    if not total:
        return _section("Where the coders differ", f"<p>The coders agree on every {unit}.</p>")
    shown, body, current = items[:300], [], None
    for item in shown:
        if item["code"] != current:
            current = item["code"]
            body.append(f"<h3>{escape(str(current))}</h3>")
        where = f"{item.get('document')} [{item.get('start')}, {item.get('end')})"
        body.append(f'<p class="small"><strong>{escape(where)}</strong> coded by {escape(", ".join(item["coded_by"]))}'
                    f", not by {escape(', '.join(item['not_coded_by']))}:</p>"
                    f"<blockquote>{escape(item['text'])}</blockquote>")
    more = f" The first {len(shown)} are shown (the JSON report lists up to 500)." if total > len(shown) else ""
    what = "character spans" if unit == "character" else f"{unit}s"
    return _section("Where the coders differ",
                    f"<p>{total} {what} where one coder gave a code and another did not, ordered by code, for a "
                    f"qualitative look at what the coders read differently.{more}</p>", *body)


CHARACTER_COLUMNS = [("percent_agreement", "Percent agreement"), ("cohen_kappa", "Cohen's kappa"),
                     ("krippendorff_alpha_u", "Unitizing alpha")]
CHARACTER_EXPLANATIONS = [
    ("Characters as units",
     "Every character of a source is one unit; per code each coder either coded it or not. This is what the "
     "coding comparisons of NVivo, ATLAS.ti and MAXQDA count. Percent agreement is the share of characters on "
     "which the two coders agree (coded by both, or by neither); Cohen's kappa corrects it for chance from each "
     "coder's share of coded characters. Long uncoded stretches make percent agreement high by themselves: read "
     "kappa and alpha."),
    ("Krippendorff's unitizing alpha (u-alpha)",
     "Compares where the coders' coded spans begin and end (Krippendorff 1995, 2004): a span that one coder "
     "coded and the other did not costs its squared length, two overlapping spans cost the squared differences "
     "of their begins and ends. 1 is perfect agreement, 0 is what spans placed at random would give."),
]


def _character_row(label: str, figures: dict[str, Any]) -> str:
    cells = "".join(f"<td>{_num(figures.get(key))}</td>" for key, _ in CHARACTER_COLUMNS)
    extra = (f"<td>{figures.get('both', '')}</td><td>{figures.get('only_first', '')}</td>"
             f"<td>{figures.get('only_second', '')}</td>")
    return f'<tr><td class="l">{escape(label)}</td><td>{figures.get("n_characters", "")}</td>{cells}{extra}</tr>'


def _character_table(rows: Sequence[tuple[str, dict[str, Any]]], *, caption: str, first: str, pair: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for _, name in CHARACTER_COLUMNS)
    a, b = pair
    return (f"<table><caption>{escape(caption)}</caption><thead><tr><th class=\"l\">{escape(first)}</th>"
            f"<th>Characters</th>{head}<th>Coded by both</th><th>Only {escape(a)}</th><th>Only {escape(b)}</th>"
            f"</tr></thead><tbody>{''.join(_character_row(label, f) for label, f in rows)}</tbody></table>")


def _character_agreement_page(report: dict[str, Any]) -> str:
    coders, data = report["coders"], report["data"]
    banner = ("Some of the coded material is synthetic (made up for development): these figures show that the "
              "method works, not how reliable real coding is.") if report.get("synthetic") else None
    intro = _section(
        "Which data",
        f"<p>Inputs: {escape(', '.join(report['inputs']))}. {data['n_documents']} sources, {data['n_characters']} "
        f"characters, {data['n_codings']} codings. Coders: "
        + escape(", ".join(f"{c} ({data['codings_per_coder'].get(c, 0)} codings in "
                           f"{data['documents_per_coder'].get(c, 0)} sources)" for c in coders)) + ".</p>"
        f"<p><strong>Unit of analysis:</strong> {escape(report.get('unit_description', 'characters'))}.</p>"
        + _scheme_text(report),
    )
    code_rows = "".join(f'<tr><td class="l">{escape(code)}</td><td>{f["n_sources"]}</td><td>{f["n_characters"]}</td>'
                        f'<td>{_num(f["krippendorff_alpha_u"])}</td></tr>' for code, f in report["codes"].items())
    overall = _section(
        "All coders",
        f"<p>Unitizing alpha of all {len(coders)} coders over all codes: <strong>"
        f"{_num(report.get('krippendorff_alpha_u'))}</strong> (on the {report['n_sources_all_coders']} sources every "
        "coder coded).</p>"
        "<table><caption>All coders, one code at a time</caption><thead><tr><th class=\"l\">Code</th><th>Sources</th>"
        f"<th>Characters</th><th>Unitizing alpha</th></tr></thead><tbody>{code_rows}</tbody></table>",
    )
    pair_parts = []
    if report.get("pairs"):
        pair_parts.append(_character_table([(key, p["pooled"]) for key, p in report["pairs"].items()],
                                           caption="Every pair, all codes pooled (characters x codes)",
                                           first="Pair", pair=("first", "second")))
    for key, pair in report.get("pairs", {}).items():
        pair_parts.append(f"<h3>{escape(key)}</h3>")
        pair_parts.append(_character_table(list(pair["codes"].items()), caption=f"{key}: per code, every source "
                                           "pooled", first="Code", pair=pair["coders"]))
        rows = [(f"{doc} \u2014 {code}", f) for doc, block in pair["sources"].items()
                for code, f in block["codes"].items() if f.get("both") or f.get("only_first") or f.get("only_second")]
        pair_parts.append(_character_table(rows[:400], caption=f"{key}: per source and code (codes either coder "
                                           "used there)", first="Source \u2014 code", pair=pair["coders"]))
    pairs = _section("Per pair of coders", *pair_parts) if pair_parts else ""
    body = [intro, overall, pairs, _section("Per coder", _per_coder_table(report.get("per_coder", {}),
                                                                            kind="characters")),
            _disagreement_section(report, "character"),
            _section("How to read the figures", _explain(CHARACTER_EXPLANATIONS)),
            _section("Notes", _notes(report.get("notes", [])))]
    return _page("Agreement between coders, character by character", f"{len(coders)} coders: {', '.join(coders)}",
                 banner, body)


def _csv_agreement_page(report: dict[str, Any], *, inputs: Sequence[str], level: str,
                        bootstrap: dict[str, Any]) -> str:
    rows = [_interval_row(name, report, key) for key, name in COEFFICIENT_NAMES.items()]
    table = report.get("table") or {}
    missing = ""
    if table:
        markers = ", ".join(f"'{escape(str(k))}': {v}" for k, v in table.get("missing_markers", {}).items())
        missing = (f" Layout {escape(str(table.get('layout')))}, delimiter '{escape(str(table.get('delimiter')))}'. "
                   f"<strong>Missing ratings:</strong> {table.get('n_missing', 0)}"
                   + (f" ({markers}), left out of the coefficients, never counted as a category" if markers else "")
                   + ".")
    pairs = report.get("pairs") or {}
    body = [
        _section("Which data",
                 f"<p>Ratings from {escape(', '.join(inputs))}: {report['n_units']} units rated by "
                 f"{report['n_coders']} coders, {escape(level)} level (only Krippendorff's alpha uses the level; "
                 f"the other coefficients treat the values as unordered categories).{missing} "
                 f"{escape(_bootstrap_text(bootstrap))}</p>"),
        _section("Agreement", summary_table([("all units", report)], caption="All coders, all units"),
                 '<div class="plots">' + forest_plot(rows, title="Coefficients with 95% intervals") + "</div>"),
        _section("Per pair of coders", summary_table(list(pairs.items()), caption="Every pair of coders (no intervals)",
                                                     first_column="Pair")) if pairs else "",
        _section("Per coder", _per_coder_table(report.get("per_coder", {}), kind="table")),
        _section("How to read the coefficients", _explain(EXPLANATIONS)),
        _section("Notes", _notes(report.get("notes", []))),
    ]
    return _page("Agreement between coders", f"ratings table, {report['n_coders']} coders", None, body)


# --------------------------------------------------------------------------- evaluation report


def _evaluation_banner(results: dict[str, Any]) -> str | None:
    parts = []
    if results["model"].get("train_synthetic") or results["model"].get("trained_on_synthetic_data"):
        parts.append("the model and the baselines were trained on synthetic interviews")
    parts += [f"the {name} set is synthetic" for name, s in results["sets"].items() if s["synthetic"]]
    parts += [f"the human pair {pair.replace('_', ' / ')} coded synthetic material"
              for pair, p in results["human"]["pairs"].items() if p["synthetic"]]
    if not parts:
        return None
    real = [name for name, s in results["sets"].items() if not s["synthetic"]]
    tail = f" The {' and '.join(real)} set is real coded material." if real else ""
    return ("Parts of this evaluation use synthetic data (written for development, not real interviews): "
            + "; ".join(parts) + "." + tail)


def _f1_table(evaluation: dict[str, Any], codebook: Codebook) -> str:
    body = []
    for code in codebook.code_ids:
        for index, (system, scores) in enumerate(evaluation["systems"].items()):
            figures = scores["codes"][code]
            agreement = figures["agreement"]
            first = (f'<td class="l" rowspan="{len(evaluation["systems"])}">{escape(code)}<br><span class="small">'
                     f'{escape(codebook.code(code).axis)}; reference: {escape(evaluation["reference"][code])}; '
                     f'{figures["n"]} fragments</span></td>') if index == 0 else ""
            body.append(f"<tr>{first}<td class=\"l\">{escape(system)}</td><td>{_num(figures['precision'])}</td>"
                        f"<td>{_num(figures['recall'])}</td><td>{_num(figures['f1'])}</td><td>{figures['support']}</td>"
                        f"{_coefficient_cell(agreement, 'krippendorff_alpha')}"
                        f"{_coefficient_cell(agreement, 'cohen_kappa')}</tr>")
    return ("<table><caption>Per code: each system against the reference coder</caption><thead><tr>"
            "<th class=\"l\">Code</th><th class=\"l\">System</th><th>Precision</th><th>Recall</th><th>F1</th>"
            "<th>Support</th><th>Krippendorff's alpha</th><th>Cohen's kappa</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _axis_table(evaluation: dict[str, Any], codebook: Codebook) -> str:
    body = []
    for axis in codebook.axes:
        for index, (system, scores) in enumerate(evaluation["systems"].items()):
            figures = scores["axes"][axis.id]
            first = (f'<td class="l" rowspan="{len(evaluation["systems"])}">{escape(axis.id)}<br>'
                     f'<span class="small">{figures["n"]} fragments</span></td>') if index == 0 else ""
            body.append(f"<tr>{first}<td class=\"l\">{escape(system)}</td><td>{_num(figures['macro_f1'])}</td>"
                        f"{_coefficient_cell(figures['agreement'], 'krippendorff_alpha')}"
                        f"{_coefficient_cell(figures['agreement'], 'cohen_kappa')}"
                        f"{_coefficient_cell(figures['agreement'], 'percent_agreement')}</tr>")
    return ("<table><caption>Per axis (four categories: only pole 1, only pole 2, both, neither)</caption><thead><tr>"
            "<th class=\"l\">Axis</th><th class=\"l\">System</th><th>Macro-F1</th><th>Krippendorff's alpha</th>"
            "<th>Cohen's kappa</th><th>Percent agreement</th></tr></thead><tbody>" + "".join(body)
            + "</tbody></table>")


def _set_section(name: str, evaluation: dict[str, Any], codebook: Codebook) -> str:
    systems = evaluation["systems"]
    bars = bar_chart(codebook.code_ids,
                     [(system, [s["codes"][c]["f1"] for c in codebook.code_ids]) for system, s in systems.items()],
                     title=f"F1 per code ({name})")
    forest = forest_plot(
        [_interval_row(f"{label} \u2014 {system}", figures["agreement"], series=k)
         for label, getter in [*((c, lambda s, c=c: s["codes"][c]) for c in codebook.code_ids),
                               *((a.id, lambda s, a=a: s["axes"][a.id]) for a in codebook.axes)]
         for k, (system, scores) in enumerate(systems.items())
         for figures in [getter(scores)]],
        title=f"Krippendorff's alpha with the reference coder ({name})", legend=list(systems), width=440,
    )
    model = systems["model"]
    heatmaps = [heatmap(model["axes"][axis.id]["confusion"], model["axes"][axis.id]["categories"],
                        model["axes"][axis.id]["categories"], title=f"model, {axis.id}") for axis in codebook.axes]
    code_maps = [heatmap(model["codes"][code]["confusion"], ["absent", "present"], ["absent", "present"],
                         title=f"model, {code}", cell=48) for code in codebook.code_ids]
    synthetic = " (synthetic)" if evaluation["synthetic"] else " (real coded material)"
    return _section(
        f"{name.capitalize()} set{synthetic}",
        f"<p>{escape(evaluation['description'])}: {evaluation['n_fragments']} respondent fragments from "
        f"{evaluation['n_documents']} documents.</p>",
        _f1_table(evaluation, codebook), _axis_table(evaluation, codebook),
        f'<div class="plots">{bars}{forest}</div>',
        "<h3>Confusion matrices of the model, per axis</h3>",
        f'<div class="plots">{"".join(heatmaps)}</div>',
        "<h3>Confusion matrices of the model, per code</h3>",
        f'<div class="plots">{"".join(code_maps)}</div>',
    )


def _headline_table(sets: dict[str, Any], codebook: Codebook) -> str:
    head = "".join(f"<th>{escape(a.id)}</th>" for a in codebook.axes)
    body = []
    for name, evaluation in sets.items():
        for system, scores in evaluation["systems"].items():
            cells = "".join(f"<td>{_num(scores['axes'][a.id]['macro_f1'])}</td>" for a in codebook.axes)
            body.append(f'<tr><td class="l">{escape(name)}</td><td class="l">{escape(system)}</td>'
                        f"<td><strong>{_num(scores['macro_f1'])}</strong></td>{cells}</tr>")
    return ("<table><caption>Macro-F1, overall and per axis</caption><thead><tr><th class=\"l\">Set</th>"
            f"<th class=\"l\">System</th><th>Overall</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _human_section(results: dict[str, Any], codebook: Codebook) -> str:
    pairs = results["human"]["pairs"]
    if not pairs:
        return _section("Human coders compared with each other",
                        "<p>No fragment was coded by two human coders on the same axis, so there is no human-human "
                        "agreement to set the model's figures against.</p>")
    names = [*codebook.code_ids, *(a.id for a in codebook.axes)]
    head = "".join(f"<th>{escape(p.replace('_', ' vs '))}</th>" for p in pairs)
    model_sets = [s for s in ("test", "gold") if s in results["sets"]]
    head += "".join(f"<th>model vs reference ({s})</th>" for s in model_sets)
    body, rows = [], []
    for name in names:
        cells = []
        for pair, block in pairs.items():
            summary = block["per_code"].get(name) or block["per_axis"][name]
            cells.append(_coefficient_cell(summary, "krippendorff_alpha"))
            rows.append(_interval_row(f"{name} \u2014 {pair.replace('_', ' vs ')}", summary, series=0))
        for s in model_sets:
            scores = results["sets"][s]["systems"]["model"]
            figures = scores["codes"].get(name) or scores["axes"][name]
            cells.append(_coefficient_cell(figures["agreement"], "krippendorff_alpha"))
            rows.append(_interval_row(f"{name} \u2014 model ({s})", figures["agreement"],
                                      series=1 + model_sets.index(s)))
        body.append(f'<tr><td class="l">{escape(name)}</td>{"".join(cells)}</tr>')
    counts = "; ".join(f"{p.replace('_', ' vs ')}: {b['n_fragments']} fragments (splits {', '.join(b['splits'])})"
                       for p, b in pairs.items())
    return _section(
        "Human coders compared with each other, next to the model",
        f"<p>Fragments coded by both coders of a pair, any split: {escape(counts)}. If the model agrees with the "
        "reference about as well as two trained humans agree with each other, it is as good as a second coder. "
        "Note that double-coded fragments may lie in the train split, which the model has seen.</p>",
        "<table><caption>Krippendorff's alpha: human-human and model-human</caption><thead><tr><th class=\"l\">"
        f"Code / axis</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        '<div class="plots">' + forest_plot(rows, title="Krippendorff's alpha: humans and model",
                                            legend=["human pair", *(f"model ({s})" for s in model_sets)],
                                            width=440) + "</div>",
    )


def _heldout_section(results: dict[str, Any], codebook: Codebook) -> str:
    """Humans and model on the same held-out fragments: the fairest answer to "as good as a second coder?"."""
    heldout = results.get("heldout") or {}
    if not heldout:
        return ""
    parts = []
    names = [*codebook.code_ids, *(a.id for a in codebook.axes)]
    for block in heldout.values():
        comparisons = block["comparisons"]
        head = "".join(f"<th>{escape(c)}</th>" for c in comparisons)
        body, rows = [], []
        for name in names:
            if not all(name in summaries for summaries in comparisons.values()):
                continue
            cells = []
            for series, (comparison, summaries) in enumerate(comparisons.items()):
                cells.append(_coefficient_cell(summaries[name], "krippendorff_alpha"))
                rows.append(_interval_row(f"{name} \u2014 {comparison}", summaries[name], series=series))
            body.append(f'<tr><td class="l">{escape(name)}</td>{"".join(cells)}</tr>')
        first, second = block["coders"]
        parts += [
            f"<p>{block['n_fragments']} held-out test fragments coded by both {escape(first)} and {escape(second)}; the "
            "model never saw them in training. Each column is Krippendorff's alpha between two raters on exactly "
            "these fragments.</p>",
            f"<table><caption>Krippendorff's alpha on the same held-out fragments</caption><thead><tr>"
            f"<th class=\"l\">Code / axis</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
            '<div class="plots">' + forest_plot(rows, title="Alpha: humans and model, same fragments",
                                                legend=list(comparisons), width=440) + "</div>",
        ]
    return _section("Humans and model on the same held-out fragments", *parts)


def evaluation_page(results: dict[str, Any], codebook: Codebook) -> str:
    """The HTML page of `capcode evaluate` from its nested results (`pipeline.evaluate`)."""
    model = results["model"]
    sets = results["sets"]
    data = _section(
        "Which data and which model",
        f"<p>Model: {escape(str(model['identity']))} from {escape(str(model['directory']))}, backbone "
        f"{escape(str(model.get('backbone')))}, trained on the labels of coder {escape(str(model['label_coder']))}. "
        f"The baselines were trained on the same {model['n_train']} train fragments. "
        f"{escape(_bootstrap_text(results.get('bootstrap', {})))}</p><ul>"
        + "".join(f"<li><strong>{escape(name)}</strong>: {escape(s['description'])}; {s['n_fragments']} fragments, "
                  f"{s['n_documents']} documents{' (synthetic)' if s['synthetic'] else ''}</li>"
                  for name, s in sets.items())
        + "</ul><p>Systems: " + "; ".join(f"<strong>{escape(k)}</strong>: {escape(v)}"
                                          for k, v in results["systems"].items()) + ".</p>",
    )
    summary = _section("Summary", _headline_table(sets, codebook)) if sets else ""
    body = [summary, data, *(_set_section(name, s, codebook) for name, s in sets.items()),
            _heldout_section(results, codebook),
            _human_section(results, codebook),
            *_crossval_sections(results.get("crossval"), codebook),
            *_simulation_sections(results.get("simulation"), codebook),
            _section("How to read the figures", _explain(EVALUATION_EXPLANATIONS), _explain(EXPLANATIONS)),
            _section("Notes", _notes(results.get("notes", []) + results["human"].get("notes", [])
                                     + ["Intervals resample fragments; a code that is rare in a set gets wide "
                                        "intervals or none (undefined in more than half of the resamples)."]))]
    return _page("Evaluation: the model against manual coding", f"model {model['identity']}",
                 _evaluation_banner(results), body)


def _crossval_sections(crossval: dict[str, Any] | None, codebook: Codebook) -> list[str]:
    """The leave-one-case-out table, learning curve and ablation of the `crossval` stage, when given."""
    if not crossval:
        return []
    from pipeline.report.crossval_page import crossval_sections

    return crossval_sections(crossval, codebook)


def _simulation_sections(simulation: dict[str, Any] | None, codebook: Codebook) -> list[str]:
    """The curves and savings of the `simulate` stage (random batches vs `capcode next`), when given."""
    if not simulation:
        return []
    from pipeline.report.simulation_page import simulation_sections

    return simulation_sections(simulation, codebook)
