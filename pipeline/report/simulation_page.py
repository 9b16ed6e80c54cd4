"""The simulation section of the evaluation report: agreement against fragments coded, random vs `capcode next`,
and how many fragments `next` saves to reach what random selection reaches with the whole pool."""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.report.layout import _section
from pipeline.report.svg import CurveSeries, curve_plot

STRATEGY_LABELS = {"random": "random batches", "next": "capcode next"}


def _figure(summary: dict[str, Any] | None, digits: int = 0, reached: str | None = None) -> str:
    """Mean (range) over seeds; `reached` says in how many seeds there was a value at all."""
    if not summary or summary.get("mean") is None:
        return f'<td class="na">not reached{f" ({escape(reached)})" if reached else ""}</td>'
    where = f"<br><small>reached in {escape(reached)}</small>" if reached else ""
    return (f"<td><strong>{summary['mean']:.{digits}f}</strong> <small>({summary['min']:.{digits}f}&ndash;"
            f"{summary['max']:.{digits}f})</small>{where}</td>")


def _plots(name: str, corpus: dict[str, Any], codebook: Codebook) -> str:
    plots = []
    for axis in codebook.axes:
        lines = [CurveSeries(STRATEGY_LABELS[strategy], [
            (row["n_coded"], row[strategy][axis.id]["mean"], row[strategy][axis.id]["min"],
             row[strategy][axis.id]["max"]) for row in corpus["curve"]], series=k)
            for k, strategy in enumerate(("random", "next"))]
        plots.append(curve_plot(lines, title=f"{name}: {axis.id}", x_label="fragments coded (per held-out unit)"))
    return '<div class="plots">' + "".join(plots) + "</div>"


def _table(corpus: dict[str, Any], codebook: Codebook) -> str:
    head = ("<tr><th class=\"l\">axis</th><th>alpha, whole pool (random = next)</th><th>next needs</th>"
            "<th>random needs</th><th>saved by next (of the whole pool)</th><th>next ahead of random</th></tr>")
    body = "".join(
        f"<tr><td class=\"l\">{escape(axis.id)}</td>{_figure(f['alpha_whole_pool'], 3)}"
        f"{_figure(f['next_needs'], reached=f['reached_within_rounds'])}"
        f"{_figure(f['random_needs'], reached=f['random_reached_within_rounds'])}{_figure(f['saved'])}"
        f"{_figure(f['saved_against_random_first_reach'])}</tr>"
        for axis in codebook.axes for f in [corpus["axes"][axis.id]])
    return (f"<table><caption>Fragments coded to reach the agreement random selection reaches with the whole pool "
            f"({corpus['n_whole_pool']:.0f} fragments): mean (range) over the seeds that reach it before the whole "
            "pool; saved = whole pool minus what next needs; ahead = what random needs minus what next needs"
            f"</caption>{head}{body}</table>")


def simulation_sections(simulation: dict[str, Any], codebook: Codebook) -> list[str]:
    """One report section per simulated corpus: its curves per axis and the savings table."""
    sections = []
    for name, corpus in simulation["corpora"].items():
        held_out = corpus["held_out"] if isinstance(corpus["held_out"], str) else ", ".join(corpus["held_out"])
        intro = (
            f"<p>Simulated coding on <code>{escape(corpus['collection'])}</code> ({corpus['n_fragments']} coded "
            f"fragments; oracle: {escape(', '.join(corpus['oracle']))}; held out: {escape(held_out)}): batches of "
            f"{corpus['batch_size']} fragments, chosen at random or by <code>capcode next</code> under the model "
            f"of the moment; after each batch the model is refitted as <code>capcode adapt</code> refits it "
            f"({'the base head with replay' if corpus['start'] == 'base' else 'a head from zero, no replay'}), "
            "on encoder embeddings computed once, and codes the held-out fragments. Krippendorff's alpha per axis "
            f"against the oracle; mean and range (bars) over seeds {simulation['seeds']}"
            + (f"; rounds stop at {corpus['max_coded']} fragments, the last point is the whole pool"
               if corpus["max_coded"] else "") + ".</p>")
        sections.append(_section(f"Simulation: what to code next ({name})", intro, _plots(name, corpus, codebook),
                                 _table(corpus, codebook)))
    return sections
