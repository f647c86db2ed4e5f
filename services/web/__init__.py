"""The web console at /: one page of plain HTML and ES modules (no build step) over the API.

The page holds no data of its own: it asks the same REST endpoints as the CLI, with the key the
user pastes (kept in sessionStorage, sent as the Bearer header). Its form takes its limits from
the job spec's own schema, so the browser checks what the API checks before anything is sent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template

from services.presets import PRESETS
from workers.spec import BUILTIN_SOURCES, FAMILIES, JobSpec, TrainingSpec

web = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/ui"
)
# Same origin only; no inline script (the presets travel as JSON data); images from blob: URLs
# made of fetched PNGs (the Bearer header cannot ride on an <img src>).
POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


@web.get("/")
def console() -> Response:
    html = render_template(
        "console.html",
        config={"presets": PRESETS, "families": FAMILIES, "sources": BUILTIN_SOURCES},
        rules=field_rules(),
    )
    response = Response(html, mimetype="text/html")
    response.headers.update(
        {
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }
    )
    return response


def field_rules() -> dict[str, dict[str, Any]]:
    """Form field name → its HTML limits (min, max, pattern, maxlength) from the spec's schema."""
    rules: dict[str, dict[str, Any]] = {}
    for prefix, model in (("", JobSpec), ("training.", TrainingSpec)):
        for name, schema in model.model_json_schema()["properties"].items():
            branches = schema.get("anyOf", [schema])
            branch: dict[str, Any] = next((s for s in branches if s.get("type") != "null"), {})
            if "pattern" in branch:  # browsers read it with the 'v' flag: '-' in a class escaped
                branch["pattern"] = branch["pattern"].replace("-]", "\\-]")
            rules[prefix + name] = {
                html: branch[key]
                for key, html in (
                    ("minimum", "min"),
                    ("maximum", "max"),
                    ("pattern", "pattern"),
                    ("maxLength", "maxlength"),
                )
                if key in branch
            }
    return rules
