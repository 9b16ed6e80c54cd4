"""The HTML page of `capcode profile`: the report's overview tables per case, drawn as the study draws them.

One self-contained file (inline CSS and SVG, no scripts, fonts or links elsewhere), like the other reports
(`pipeline.report.html`). Per group and coder the two grids (strategische and operationele capaciteit), rows
beleid/beheer and columns intern/extern as in sections 5.1.2-5.3.2 of the study, each cell with its count,
share and interval, its recurring themes and its evidence behind a `<details>` toggle (works without
scripts); a small-multiples chart compares the groups; where two codings cover the same fragments, the
comparison (cell differences, rank correlation and dominant poles per axis).
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any

from pipeline import __version__
from pipeline.core.codebook import Codebook
from pipeline.report.layout import CSS
from pipeline.report.svg import FONT, SERIES_COLOURS

PAGE_CSS = CSS + """
.multiples{display:flex;flex-wrap:wrap;gap:10px}
.coders{display:flex;flex-wrap:wrap;gap:22px;align-items:flex-start}.coder{flex:1 1 460px;min-width:420px}
table.grid{width:100%;table-layout:fixed}table.grid td{text-align:left;font-size:.88em;background:#fff}
table.grid th.row{width:7.5em;text-align:left}table.grid caption{font-size:1em}
.share{font-weight:600}.themes{color:#1f5fa8;font-size:.92em;margin:2px 0}.empty{color:#8c959f;font-style:italic}
details summary{cursor:pointer;color:#57606a;font-size:.9em}details ol{margin:4px 0 4px 1.1em;padding:0}
details li{margin:0 0 6px}q{font-style:normal}.who{color:#57606a;font-size:.86em;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:baseline}
td.diff-pos{color:#1a7f37}td.diff-neg{color:#b42318}
"""


# The study's own names of the grids and rows (its tables' headings); other codebooks show their labels.
STUDY_NAMES = {"strategisch": "Strategische capaciteit", "operationeel": "Operationele capaciteit",
               "beleid": "Beleidscapaciteit", "beheer": "Beheerscapaciteit"}


def _interviews(n: int) -> str:
    return f"{n} interview" + ("" if n == 1 else "s")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f' <span class="ci">[{100 * low:.0f}–{100 * high:.0f}%]</span>'


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.0f}"


def _cell_html(cell: dict[str, Any], *, empty_group: bool) -> str:
    if empty_group:
        return '<td class="cell empty">no coded fragment in this group</td>'
    if cell["share"] is None:
        return '<td class="cell empty">0 fragments (none in this grid)</td>'
    parts = [f'<div class="share">{cell["n"]} · {_pct(cell["share"])}{_interval(cell["share_low"], cell["share_high"])}'
             "</div>"]
    themes = cell.get("themes") or []
    if themes:
        parts.append('<div class="themes">' + escape(", ".join(t["term"] for t in themes)) + "</div>")
    evidence = cell.get("evidence") or []
    if evidence:
        items = []
        for item in evidence:
            who = ", ".join(str(x) for x in (item.get("speaker"), item.get("respondent_role"), item["document"]) if x)
            score = f", score {item['score']:.2f}" if item.get("score") is not None else ""
            items.append(f"<li><q>{escape(str(item.get('text') or ''))}</q> <span class=\"who\">({escape(who)}{score})"
                         "</span></li>")
        label = "strongest evidence" if evidence[0].get("score") is not None else "evidence"
        parts.append(f"<details><summary>{label} ({len(evidence)})</summary><ol>{''.join(items)}</ol></details>")
    return f'<td class="cell">{"".join(parts)}</td>'


def _grid_table(profile: dict[str, Any], grid: str, report: dict[str, Any]) -> str:
    labels, layout = report["labels"], report["layout"]
    cells = {(c[report["layout"]["row_axis"]], c[report["layout"]["column_axis"]]): c
             for c in profile["cells"] if c["grid"] == grid}
    head = "".join(f"<th>{escape(labels[c])}</th>" for c in layout["columns"])
    rows = []
    for row in layout["rows"]:
        body = "".join(_cell_html(cells[(row, column)], empty_group=profile["empty"]) for column in layout["columns"])
        rows.append(f'<tr><th class="row">{escape(STUDY_NAMES.get(row, labels[row]))}</th>{body}</tr>')
    size = profile["grid_sizes"][grid]
    return (f'<table class="grid" data-coder="{escape(profile["coder"])}" data-group="{escape(profile["group"])}" '
            f'data-grid="{escape(grid)}"><caption>{escape(STUDY_NAMES.get(grid, labels[grid]))} '
            f'<span class="small">({size} fragment{"" if size == 1 else "s"})</span></caption>'
            f'<thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _cell_name(cell: dict[str, Any], report: dict[str, Any], short: bool = False) -> str:
    labels, layout = report["labels"], report["layout"]
    grid = labels[cell["grid"]][0] if short else labels[cell["grid"]]
    return f"{grid} {labels[cell[layout['row_axis']]].lower()}/{labels[cell[layout['column_axis']]].lower()}"


def small_multiple(group: str, profiles: list[dict[str, Any]], report: dict[str, Any]) -> str:
    """One panel: the group's eight cells, a bar per coder (share) with its interval."""
    cells = profiles[0]["cells"]
    bar, gap = 7, 5
    per_cell = bar * len(profiles) + gap
    left, plot_width, top = 112, 150, 30
    width, height = left + plot_width + 14, top + per_cell * len(cells) + 26

    def x(value: float) -> float:
        return left + value * plot_width

    body = [f'<text x="4" y="16" font-weight="600">{escape(group)}</text>']
    for tick in (0.0, 0.5, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - 22}" stroke="#e3e3e3"/>'
                    f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" font-size="10" fill="#444">'
                    f"{100 * tick:.0f}%</text>")
    for i, cell in enumerate(cells):
        y0 = top + per_cell * i
        if i == len(cells) // 2:
            body.append(f'<line x1="4" y1="{y0 - gap / 2:.1f}" x2="{width - 4}" y2="{y0 - gap / 2:.1f}" stroke="#999"/>')
        body.append(f'<text x="{left - 6}" y="{y0 + bar * len(profiles) / 2 + 3:.1f}" text-anchor="end" font-size="10">'
                    f"{escape(_cell_name(cell, report, short=True))}</text>")
        for k, profile in enumerate(profiles):
            figure = profile["cells"][i]
            y = y0 + bar * k
            colour = SERIES_COLOURS[report["coders"].index(profile["coder"]) % len(SERIES_COLOURS)]
            if figure["share"] is None:
                body.append(f'<text x="{left + 2}" y="{y + 6}" font-size="8" fill="#999">n/a</text>')
                continue
            body.append(f'<rect x="{left}" y="{y}" width="{max(x(figure["share"]) - left, 0.5):.1f}" height="{bar - 1}" '
                        f'fill="{colour}"><title>{escape(profile["coder"])}, {escape(_cell_name(cell, report))}: '
                        f'{figure["n"]} fragments, {_pct(figure["share"])}</title></rect>')
            if figure["share_low"] is not None and figure["share_high"] is not None:
                body.append(f'<line x1="{x(figure["share_low"]):.1f}" y1="{y + (bar - 1) / 2:.1f}" '
                            f'x2="{x(figure["share_high"]):.1f}" y2="{y + (bar - 1) / 2:.1f}" stroke="#222" '
                            'stroke-width="1"/>')
    title = f"{group}: share of the grid's fragments per cell and coder"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot multiple" role="img" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _legend(report: dict[str, Any]) -> str:
    return '<p class="small">' + "".join(
        f'<span class="swatch" style="background:{SERIES_COLOURS[i % len(SERIES_COLOURS)]}"></span>{escape(coder)}'
        + (" (model)" if coder in report["model_coders"] else "") for i, coder in enumerate(report["coders"])) + "</p>"


def _comparison_html(comparison: dict[str, Any], report: dict[str, Any]) -> str:
    a, b = comparison["coders"]
    labels = report["labels"]
    noun = report["by"]
    parts = [f'<h3 id="compare-{escape(a)}-{escape(b)}">{escape(a)} vs {escape(b)}</h3>',
             f'<p class="small">{comparison["n_fragments"]} fragments that both coded, in '
             f'{sum(1 for g in comparison["groups"] if g["n_fragments"])} {escape(noun)} groups.</p>']
    rows = []
    for figures in comparison["across_groups"].values():
        first, second = (labels[p] for p in figures["poles"])
        rho = "n/a" if figures["spearman_rho"] is None else f"{figures['spearman_rho']:.2f}"
        orders = "<br>".join(f"{escape(c)}: {escape(' > '.join(figures['rank_order'][c]) or '–')}" for c in (a, b))
        disagree = ", ".join(figures["dominant_pole_disagreement"]) or "none"
        rows.append(f'<tr><td class="l">{escape(first)} / {escape(second)}</td><td>{rho}</td>'
                    f'<td class="l small">{orders}</td><td>{figures["dominant_pole_agreement"]} of '
                    f'{figures["n_groups_judged"]}</td><td class="l">{escape(disagree)}</td></tr>')
    parts.append(f'<table class="across" data-pair="{escape(a)} vs {escape(b)}"><caption>Across groups: do the two '
                 "codings rank the groups alike and agree on each group's dominant pole?</caption><thead><tr>"
                 "<th class=\"l\">axis (first / second pole)</th><th>Spearman's rho</th><th class=\"l\">groups by share "
                 "of the first pole, highest first</th><th>same dominant pole</th><th class=\"l\">groups where it "
                 f"differs</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    axis_head = "".join(f"<th>{escape(labels[p1])} / {escape(labels[p2])}</th>"
                        for p1, p2 in (f["poles"] for f in comparison["across_groups"].values()))
    axis_rows = []
    for group in comparison["groups"]:
        if not group["n_fragments"]:
            axis_rows.append(f'<tr><td class="l">{escape(group["group"])}</td><td>0</td>'
                             + "".join('<td class="empty">no common fragment</td>' for _ in comparison["across_groups"])
                             + "</tr>")
            continue
        cells = []
        for axis_id in comparison["across_groups"]:
            axis = group["axes"][axis_id]
            bits = []
            for coder in (a, b):
                dominant = axis["dominant"][coder]
                name = "–" if dominant is None else ("tie" if dominant == "tie" else labels[dominant])
                n1, n2 = axis["counts"][coder]
                bits.append(f"{escape(coder)}: <b>{escape(name)}</b> ({n1}:{n2})")
            cells.append(f'<td class="l small">{"<br>".join(bits)}</td>')
        axis_rows.append(f'<tr><td class="l">{escape(group["group"])}</td><td>{group["n_fragments"]}</td>'
                         f"{''.join(cells)}</tr>")
    parts.append("<table><caption>Dominant pole per group and axis (fragments with the first : second pole)"
                 f'</caption><thead><tr><th class="l">group</th><th>fragments</th>{axis_head}</tr></thead>'
                 f"<tbody>{''.join(axis_rows)}</tbody></table>")
    diff_rows = []
    for group in comparison["groups"]:
        if not group["n_fragments"]:
            continue
        for k, cell in enumerate(group["cells"]):
            head = (f'<td class="l" rowspan="{len(group["cells"])}">{escape(group["group"])}</td>' if k == 0 else "")
            tone = ""
            if cell["low"] is not None and cell["high"] is not None and (cell["low"] > 0 or cell["high"] < 0):
                tone = ' class="diff-pos"' if cell["low"] > 0 else ' class="diff-neg"'
            diff_rows.append(f'<tr>{head}<td class="l">{escape(_cell_name(cell, report))}</td>'
                             f"<td>{_pct(cell['share_a'])}</td><td>{_pct(cell['share_b'])}</td>"
                             f"<td{tone}>{_signed(cell['difference'])}{_interval_points(cell)}</td></tr>")
    parts.append(f"<details><summary>Per cell: share under {escape(a)} and {escape(b)}, and the difference "
                 f"({escape(b)} minus {escape(a)}, percentage points, with its interval)</summary><table><thead><tr>"
                 f'<th class="l">group</th><th class="l">cell</th><th>{escape(a)}</th><th>{escape(b)}</th>'
                 f"<th>difference</th></tr></thead><tbody>{''.join(diff_rows)}</tbody></table></details>")
    return "".join(parts)


def _interval_points(cell: dict[str, Any]) -> str:
    if cell["low"] is None or cell["high"] is None:
        return ""
    return f' <span class="ci">[{100 * cell["low"]:+.0f}, {100 * cell["high"]:+.0f}]</span>'


def profile_page(report: dict[str, Any], codebook: Codebook) -> str:
    """The whole page for a `pipeline.profile.build_profiles` report."""
    noun = {"case": "case", "interview": "interview", "role": "respondent role"}[report["by"]]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for profile in report["profiles"]:
        by_group.setdefault(profile["group"], []).append(profile)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>capcode: profiles per {noun}</title>"
             f"<style>{PAGE_CSS}</style></head><body>",
             f"<h1>Capacity profiles per {escape(noun)}</h1>",
             f'<p class="meta">capcode {escape(__version__)}, {stamp}. Inputs: {escape(", ".join(report["inputs"]))}. '
             f'Grouped by {escape(", ".join(report["group_fields"]))}.</p>']
    if report["synthetic"]:
        parts.append('<p class="banner"><strong>SYNTHETIC DATA.</strong> Some of these interviews are synthetic '
                     "(written for capcode): the profiles test the machinery and say nothing about real "
                     "municipalities.</p>")
    parts.append("<h2>Which data</h2>")
    head = "".join(f"<th>{escape(c)}</th>" for c in report["coders"])
    rows = "".join(
        f'<tr><td class="l">{escape(group)}</td>'
        + "".join(f"<td>{p['n_fragments']} <span class=\"ci\">({_interviews(p['n_interviews'])})</span></td>"
                  for p in by_group[group]) + "</tr>" for group in report["groups"])
    parts.append(f'<table><caption>Coded respondent fragments per {escape(noun)} and coder</caption><thead><tr>'
                 f'<th class="l">{escape(noun)}</th>{head}</tr></thead><tbody>{rows}</tbody></table>')
    if report["notes"]:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in report["notes"]) + "</ul>")

    parts.append(f"<h2>The {escape(noun)}s compared</h2>")
    parts.append(_legend(report) + '<p class="small">Per panel the eight cells (S = strategisch, O = '
                 "operationeel; beleid/beheer by intern/extern): bar = share of the grid's fragments, line = its "
                 "bootstrap interval (see below).</p>")
    parts.append('<div class="multiples">' + "".join(small_multiple(g, by_group[g], report) for g in report["groups"])
                 + "</div>")

    if report["comparisons"]:
        parts.append("<h2>Side by side: would the conclusions change?</h2>")
        parts.append('<p class="small">For each pair of codings of the same fragments: do they rank the groups the '
                     "same way on each axis, do they agree on each group's dominant pole, and how far apart are the "
                     "cells' shares.</p>")
        parts.extend(_comparison_html(c, report) for c in report["comparisons"])

    parts.append(f"<h2>Profiles per {escape(noun)}</h2>")
    for group in report["groups"]:
        parts.append(f'<h3 class="group">{escape(group)}</h3><div class="coders">')
        for profile in by_group[group]:
            kind = "model" if profile["model"] else "human coding"
            parts.append(f'<div class="coder"><h4>{escape(profile["coder"])} <span class="small">({kind}; '
                         f'{profile["n_fragments"]} fragments, {_interviews(profile["n_interviews"])})</span></h4>')
            parts.extend(_grid_table(profile, grid, report) for grid in report["layout"]["grids"])
            parts.append("</div>")
        parts.append("</div>")

    method = report["method"]
    parts.append('<h2>How to read the profiles</h2><dl class="explain">'
                 f"<dt>Cells</dt><dd>{escape(method['cell'])}. A fragment with both poles of an axis counts in both "
                 "cells, so a grid's shares can add up to more than 100%, and fragments without a pole of an axis "
                 "count in no cell, so they can add up to less.</dd>"
                 f"<dt>Intervals</dt><dd>{escape(method['interval'])}.</dd>"
                 f"<dt>Evidence</dt><dd>{escape(method['evidence'])}.</dd>"
                 f"<dt>Themes</dt><dd>{escape(method['themes'])}.</dd>"
                 f"<dt>Ranking</dt><dd>{escape(method['ranking'])}. With three or four groups a rank correlation "
                 "takes only a few values: read it together with the table of dominant poles.</dd>"
                 "<dt>What holds a case back</dt><dd>The study prints hindering aspects in italics; the codebook "
                 "has no code for them, so this page does not separate them: read the evidence.</dd></dl>")
    parts.append("</body></html>")
    return "\n".join(parts)
