"""The report of one run: a single self-contained HTML file (charts, tables, spec, versions)
that opens from disk with no network and no server.

It holds the run as JSON and the app's own scripts and styles inline: Apache ECharts, the
chart options (`charts.js`) and the run view (`runview.js`) the run page uses, so it draws
the same charts. Its Content-Security-Policy allows exactly those inline scripts and
styles (by their SHA-256) and nothing from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from serve.web.assets import ECHARTS, read_static

SCRIPTS = (ECHARTS, "js/dom.js", "js/format.js", "js/charts.js", "js/runview.js", "js/report.js")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _assets() -> tuple[str, tuple[str, ...]]:
    return read_static("css/app.css"), tuple(read_static(path) for path in SCRIPTS)


def _embed(json_text: str) -> str:
    """JSON inside <script type="application/json">: no `</` can end the element early."""
    return json_text.replace("</", "<\\/").replace("<!--", "<\\!--")


@cache
def report_csp() -> str:
    style, scripts = _assets()
    hashes = " ".join(_sha256(s) for s in scripts)
    return (f"default-src 'none'; script-src {hashes}; style-src {_sha256(style)}; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def render_report(run_json: str, *, title: str) -> str:
    """The report HTML of a run given as BacktestPublic JSON text."""
    style, scripts = _assets()
    safe_title = (title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    body_scripts = "".join(f"<script>{s}</script>\n" for s in scripts[:-1])
    return (
        "<!doctype html>\n<html lang=\"ko\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{report_csp()}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{safe_title}</title>\n<style>{style}</style>\n</head>\n"
        "<body class=\"report\">\n<main class=\"page\"><p class=\"muted\">QBT report · "
        "generated from the stored run; opens offline.</p><div id=\"report\"></div></main>\n"
        f"<script type=\"application/json\" id=\"qbt-run\">{_embed(run_json)}</script>\n"
        f"{body_scripts}<script>{scripts[-1]}</script>\n</body>\n</html>\n"
    )
