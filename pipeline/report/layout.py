"""The frame every capcode HTML page shares: style sheet, page skeleton, sections and the synthetic-data banner.

Its own module so that page modules (`pipeline.report.html`, `pipeline.report.crossval_page`) can share it
without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

from pipeline import __version__

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1b1f24;max-width:1060px;
margin:0 auto;padding:24px 28px 60px;line-height:1.5;background:#fff}
h1{font-size:1.7em;margin:.2em 0 .1em}h2{font-size:1.3em;margin-top:2em;border-bottom:2px solid #d8dee4;
padding-bottom:4px}h3{font-size:1.08em;margin-top:1.6em}
.meta{color:#57606a;font-size:.92em}
.banner{background:#fff4d6;border:2px solid #d4a72c;border-radius:6px;padding:12px 16px;margin:16px 0;
font-size:1.02em}.banner strong{color:#7a4b00;letter-spacing:.04em}
table{border-collapse:collapse;margin:10px 0 14px;font-size:.9em}caption{text-align:left;font-weight:600;
padding:4px 0;color:#24292f}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;
vertical-align:top}th{background:#f3f5f7;font-weight:600}td.l,th.l{text-align:left}
tbody tr:nth-child(even){background:#fafbfc}.ci{color:#57606a;font-size:.88em;white-space:nowrap}
.na{color:#8c959f;font-style:italic}dl.explain dt{font-weight:600;margin-top:10px}dl.explain dd{margin:2px 0 0 18px}
.plots{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}svg.plot{max-width:100%;height:auto}
ul.notes li{color:#57606a;font-size:.9em}blockquote{margin:2px 0 10px 18px;padding:4px 10px;border-left:4px solid #d0d7de;white-space:pre-wrap;font-size:.92em}.small{font-size:.88em;color:#57606a}
@media print{.banner{break-inside:avoid}svg.plot{break-inside:avoid}}
"""


def _banner(text: str | None) -> str:
    if not text:
        return ""
    return f'<div class="banner" role="alert"><strong>SYNTHETIC DATA.</strong> {escape(text)}</div>'


def _page(title: str, subtitle: str, banner: str | None, body: Sequence[str]) -> str:
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"meta\">{escape(subtitle)} &middot; capcode {escape(__version__)} "
        f"&middot; {created}</p>{_banner(banner)}{''.join(body)}</body></html>\n"
    )


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"
