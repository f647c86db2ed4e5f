"""Debian's Chromium, driven by Selenium through Debian's chromedriver (scripts/install-browser.sh
installs both; nothing is downloaded from a browser vendor). Missing, it fails: never a skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def find(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"{' or '.join(names)} is missing: run scripts/install-browser.sh (make setup)")


@contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = find("chromium", "chromium-browser")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(find("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome, expected: tuple[str, ...] = ()) -> list[Any]:
    """Errors the page logged, less failed requests whose message names an expected status."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not (entry["source"] == "network" and any(s in entry["message"] for s in expected))
    ]
