"""The HTML page of `capcode crossval`: the leave-one-case-out table, the ablation and the learning curve."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.report.layout import _page, _section

COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad")


def _cell(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("mean") is None:
        return "<td>&ndash;</td>"
    spread = f"{summary['min']:.2f}&ndash;{summary['max']:.2f}"
    ci = summary.get("ci_mean")
    interval = f"<br><small>95% CI {ci[0]:.2f} to {ci[1]:.2f}</small>" if ci else ""
    return f"<td><strong>{summary['mean']:.2f}</strong> <small>(seeds {spread})</small>{interval}</td>"


def _table(rows: list[tuple[str, dict[str, Any]]], codebook: Codebook, caption: str, *,
           first_column: str = "system", cell: Callable[[dict[str, Any] | None], str] = _cell) -> str:
    """One row per (label, per-axis summaries), one column per axis, each summary written by `cell`."""
    head = "".join(f"<th>{escape(a.id)}</th>" for a in codebook.axes)
    body = "".join(
        f"<tr><th scope=\"row\">{escape(name)}</th>{''.join(cell(axes.get(a.id)) for a in codebook.axes)}</tr>"
        for name, axes in rows)
    return (f"<table><caption>{escape(caption)}</caption><tr><th>{escape(first_column)}</th>{head}</tr>{body}"
            "</table>")


def _difference_cell(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("mean") is None:
        return "<td>&ndash;</td>"
    ci = summary.get("ci_mean")
    if not ci:
        return f"<td><strong>{summary['mean']:+.2f}</strong></td>"
    verdict = "ahead" if ci[0] > 0 else "behind" if ci[1] < 0 else "not resolved"
    return (f"<td><strong>{summary['mean']:+.2f}</strong> <small>(seeds {summary['min']:+.2f} to "
            f"{summary['max']:+.2f})</small><br><small>95% CI {ci[0]:+.2f} to {ci[1]:+.2f}: {verdict}</small></td>")


def learning_curve_svg(curve: list[dict[str, Any]], codebook: Codebook, humans: dict[str, Any],
                       width: int = 640, height: int = 300, reference_label: str = "human reference") -> str:
    """Alpha (y, -0.2..1) against team fragments used (x), one line per axis, dashed: each of `humans` (per
    axis summaries), named `reference_label` in the legend."""
    left, right, top, bottom = 60, width - 170, 30, height - 45
    xs = [float(r["n_used_mean"]) for r in curve]  # fragments actually used (a size above the pool takes all)
    x_max = max(xs + [1.0])

    def px(x: float) -> float:
        return left + (right - left) * x / x_max

    def py(y: float) -> float:
        return bottom - (bottom - top) * (y + 0.2) / 1.2

    parts = [f'<line x1="{left}" y1="{py(0):.1f}" x2="{right}" y2="{py(0):.1f}" stroke="#999"/>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.2f}</text>')
    last = -1e9
    for x in xs:
        if px(x) - last >= 24:  # sizes that round to nearly the same place share one label
            parts.append(f'<text x="{px(x):.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{x:.0f}</text>')
            last = px(x)
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle" font-size="12">'
                 "team's own coded fragments used (per held-out case)</text>")
    for k, axis in enumerate(codebook.axes):
        colour = COLOURS[k % len(COLOURS)]
        points = [(px(x), py(r["axes"][axis.id]["mean"])) for x, r in zip(xs, curve)
                  if r["axes"][axis.id]["mean"] is not None]
        for x, r in zip(xs, curve):
            s = r["axes"][axis.id]
            if s["min"] is not None:
                parts.append(f'<line x1="{px(x):.1f}" y1="{py(s["min"]):.1f}" x2="{px(x):.1f}" '
                             f'y2="{py(s["max"]):.1f}" stroke="{colour}" stroke-width="3" opacity="0.4"/>')
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for summary in humans.values():
            value = summary.get(axis.id, {}).get("mean")
            if value is not None:
                parts.append(f'<line x1="{left}" y1="{py(value):.1f}" x2="{right}" y2="{py(value):.1f}" '
                             f'stroke="{colour}" stroke-dasharray="5,4"/>')
        parts.append(f'<rect x="{right + 12}" y="{top + 20 * k}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{right + 30}" y="{top + 20 * k + 11}" font-size="12">{escape(axis.id)}</text>')
    parts.append(f'<text x="{right + 12}" y="{top + 20 * len(codebook.axes) + 11}" font-size="11">'
                 f"dashed: {escape(reference_label)}</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>Learning curve: Krippendorff alpha per axis</title>'
            + "".join(parts) + "</svg>")


def crossval_page(output: dict[str, Any], codebook: Codebook) -> str:
    body = crossval_sections(output, codebook)
    return _page("Adaptation on real coding (leave one case out)", f"{output['n_fragments']} fragments", None, body)


def crossval_sections(output: dict[str, Any], codebook: Codebook) -> list[str]:
    """Four report sections: the held-out table, the paired differences, the learning curve, the ablation."""
    systems = output["systems"]
    default = output["default"]
    humans = output["humans"]
    headline = [(f"human: {h}", s) for h, s in humans.items()]
    reference_lines, reference_label = humans, "human reference"
    if output.get("human_mean"):
        headline.append((f"human: mean of {', '.join(humans)}", output["human_mean"]))
        # the curve's dashed reference: one line per axis (the coders' mean), not one per coder
        reference_lines, reference_label = {"mean": output["human_mean"]}, "human reference (the coders' mean)"
    headline += [(name, systems[name]) for name in (default, *output.get("compared_systems", {}).values())]
    intro = (f"<p>Leave-one-case-out on <code>{escape(output['collection'])}</code>: {output['n_fragments']} real "
             f"fragments in cases {', '.join(map(escape, output['cases']))}; the model is adapted on the other cases "
             "and scored on the held-out one, the predictions of all cases pooled. Krippendorff's alpha per axis "
             "(four nominal categories: only pole 1, only pole 2, both, neither) against the reference coding "
             f"({escape(', '.join(output['reference_coders']))}); mean over seeds {output['seeds']} with the range, "
             "and the mean of the seeds' 95% bootstrap intervals over fragments. What a seed changes: "
             f"{escape(output['what_a_seed_changes'])}."
             + (f" The per-code baselines' own thresholds: {escape(output['baseline_thresholds'])}."
                if output.get("baseline_thresholds") else "") + "</p>")
    curve = output["learning_curve"]
    curve_rows = [(f"{r['n_team_fragments']} (used {r['n_used_mean']:.0f})", r["axes"]) for r in curve]
    curve_table = _table(curve_rows, codebook, "Learning curve", first_column="team fragments")
    paired = ("<p>The default's alpha minus another coding's alpha against the same reference, on the same "
              "fragments: each bootstrap resample draws the same fragments for both, so the interval is the "
              "difference's own (mean over seeds of the seeds' 95% intervals). Two separate intervals that overlap "
              "do not show that two codings agree equally well; this does, when it contains 0 ('not "
              "resolved').</p>")
    return [
        _section("Real quotes, leave one case out", intro, _table(headline, codebook, "Agreement with the reference")),
        _section("Is the difference real? Paired comparisons", paired,
                 _table([(f"default minus {name}", axes) for name, axes in output.get("default_minus", {}).items()],
                        codebook, "Paired differences in alpha", first_column="comparison",
                        cell=_difference_cell)),
        _section("Learning curve: how much must a team code?",
                 learning_curve_svg(curve, codebook, reference_lines, reference_label=reference_label), curve_table),
        _section("Ablation: what each step changed", _table(list(systems.items()), codebook, "All systems")),
    ]
