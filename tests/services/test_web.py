"""The console page: served at / without a key, its limits from the spec's schema, nothing inline,
every script and style it loads served with the right type."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from services.presets import PRESETS
from services.web import field_rules
from tests.services.conftest import Gateway
from workers.spec import FAMILIES

STATIC = Path(__file__).parents[2] / "services" / "web" / "static"


class Page(HTMLParser):
    """The page's tags: scripts, styles and inputs by their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data

    def find(self, tag: str, **attrs: str) -> dict[str, str | None]:
        return next(a for t, a in self.tags if t == tag and attrs.items() <= a.items())


def load(gateway: Gateway) -> tuple[Page, dict[str, str]]:
    answer = gateway.client.get("/")  # no key: the page holds no data, the API asks for one
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    page = Page()
    page.feed(answer.text)
    return page, dict(answer.headers)


def test_the_page_is_served_without_a_key_and_runs_no_inline_script(gateway: Gateway) -> None:
    page, headers = load(gateway)
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and headers["X-Content-Type-Options"] == "nosniff"
    for tag, attrs in page.tags:
        if tag == "script":  # code comes from files; the one inline script is JSON data
            assert attrs.get("src") or attrs.get("type") == "application/json", attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)  # no onclick=...
    config = json.loads(page.data["config"])
    assert config["presets"] == PRESETS and config["families"] == list(FAMILIES)


def test_the_form_takes_its_limits_from_the_job_spec(gateway: Gateway) -> None:
    page, _ = load(gateway)
    epochs = page.find("input", name="training.epochs")
    assert (epochs["min"], epochs["max"]) == ("1", "1000")
    assert page.find("input", name="training.seed")["max"] == str(2**31 - 1)
    pattern = page.find("input", name="serve_as")["pattern"]
    # read as a JavaScript 'v' regular expression: a bare '-' in a class would be an error there
    assert pattern is not None and "-]" not in pattern.replace("\\-]", "")
    for name in ("training.epochs", "training.batch_size", "serve_as"):
        assert field_rules()[name], name
    names = {a["name"] for t, a in page.tags if t in ("input", "select") and a.get("name")}
    for name in names - {"preset", "key", "seed", "n", "a", "b", "label", "steps"}:
        assert name in field_rules() or name == "dataset.source", name  # a real spec field
    labelled = {a["for"] for t, a in page.tags if t == "label"}
    inputs = {a["id"] for t, a in page.tags if t in ("input", "select") and a.get("id")}
    assert inputs <= labelled  # every control has its label (screen readers, keyboards)


def test_every_script_and_style_the_page_loads_is_served(gateway: Gateway) -> None:
    page, _ = load(gateway)
    urls = [a["src"] for t, a in page.tags if t == "script" and a.get("src")]
    urls += [a["href"] for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    for module in STATIC.glob("*.js"):  # what the modules import, relative to /ui/
        urls += ["/ui/" + m for m in re.findall(r'from "\./([^"]+)"', module.read_text())]
    assert len(urls) >= 6
    for url in set(urls):
        answer = gateway.client.get(url)
        assert answer.status_code == 200, url
        expected = "javascript" if url.endswith(".js") else "css"
        assert expected in answer.mimetype, (url, answer.mimetype)
    assert "MIT" in (STATIC / "vendor" / "uplot.LICENSE").read_text()  # vendored with its licence
