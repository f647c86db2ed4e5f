"""/openapi.json (flask-openapi3's, from the views' models) and Swagger UI at /docs.

The Swagger UI files come from the flask-openapi3-swagger wheel and are served by the gateway
itself under /swagger/, so the page works without the internet (no CDN, no online validator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_openapi3_swagger
from flask import Blueprint, Response, current_app, jsonify, render_template_string
from flask_openapi3_swagger.templates import swagger_html_string

# the page at /docs asks for swagger/css/..., swagger/js/...: relative to /, so /swagger/...
docs = Blueprint(
    "docs",
    __name__,
    static_folder=Path(flask_openapi3_swagger.__file__).with_name("templates") / "swagger",
    static_url_path="/swagger",
)
SWAGGER_CONFIG = {"validatorUrl": None, "persistAuthorization": True}


@docs.get("/openapi.json")
def openapi() -> Response:
    spec: dict[str, Any] = current_app.api_doc  # type: ignore[attr-defined]
    return jsonify(spec)


@docs.get("/docs")
def page() -> str:
    return render_template_string(
        swagger_html_string,
        doc_url="/openapi.json",
        swagger_config=SWAGGER_CONFIG,
        oauth_config=None,
    )
