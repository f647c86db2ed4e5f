"""/openapi.json and a plain docs page generated from it (no CDN needed)."""

from __future__ import annotations

import html

from flask import Blueprint, Response, jsonify

from services.openapi import openapi_spec

docs = Blueprint("docs", __name__)


@docs.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_spec())


@docs.get("/docs")
def page() -> Response:
    spec = openapi_spec()
    rows = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation.get('summary', ''))}</td></tr>"
            )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>GAN Foundry API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em 1em}</style></head><body>"
        "<h1>GAN Foundry API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
        "Send <code>Authorization: Bearer &lt;API key&gt;</code>.</p>"
        "<table>" + "".join(rows) + "</table>"
        '<h2>Example</h2><pre>curl -s -X POST $URL/v1/jobs -H "Authorization: Bearer $KEY" '
        '-H \'Content-Type: application/json\' -d \'{"model": "mnist-cgan", "serve_as": "digits"}\'\n'
        'curl -s "$URL/v1/models/digits/generate?n=16&amp;label=7" -H "Authorization: Bearer $KEY" -o sevens.png'
        "</pre></body></html>"
    )
    return Response(body, mimetype="text/html")
