"""The web console in a real Chromium against the real stack (Redis, a Celery worker, TorchServe,
the gateway under gunicorn): key, form, a job watched live through a network drop, a failed
job, the served model's images by class, a loading model, a phone's width and the keyboard."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.api.models import MODEL_CACHE_S
from services.stack.gateway import GatewayProcess
from tests.integration.browser import chromium, console_errors
from tests.integration.conftest import KEY, Stack
from tests.integration.netcut import relay_to

WAIT_S = 120
EPOCHS = 40  # about 10 s of training here: several progress events and live grids


def until(driver: WebDriver, check: Callable[[WebDriver], Any], timeout_s: float = WAIT_S) -> Any:
    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(check)


def text_of(driver: WebDriver, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def fill(driver: WebDriver, selector: str, value: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, selector)
    field.clear()
    field.send_keys(value)


def submit_job(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "#job-form button[type=submit]").click()


def enter_key(driver: WebDriver, key: str) -> None:
    fill(driver, "#key", key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()


def test_the_console_trains_watches_and_draws_digits_by_class(
    gateway: GatewayProcess, stack: Stack, start_worker
) -> None:  # type: ignore[no-untyped-def]
    worker = start_worker()
    with relay_to(gateway.port) as relay, chromium() as driver:
        driver.get(relay.url + "/")
        enter_key(driver, "not-the-key")
        assert "refused this key" in until(driver, lambda d: text_of(d, "#key-error"))
        enter_key(driver, KEY)
        until(driver, lambda d: d.find_element(By.ID, "train-view").is_displayed())
        jobs_before = len(stack.store.list_jobs(limit=100)[0])

        # checked in the browser first, then by the API: each message beside its field
        fill(driver, "#training-epochs", "5000")
        submit_job(driver)
        assert text_of(driver, '[data-for="training.epochs"]') == "at most 1000"
        fill(driver, "#training-epochs", str(EPOCHS))
        fill(driver, "#dataset-source", "s3://bucket")
        submit_job(driver)
        assert "must be" in until(driver, lambda d: text_of(d, '[data-for="dataset.source"]'))
        assert len(stack.store.list_jobs(limit=100)[0]) == jobs_before  # nothing was queued

        Select(driver.find_element(By.ID, "preset")).select_by_value("mnist-cgan")
        fill(driver, "#training-epochs", str(EPOCHS))
        fill(driver, "#serve-as", "console-digits")
        submit_job(driver)
        until(driver, lambda d: d.find_element(By.ID, "job-view").is_displayed())

        chart = driver.find_element(By.ID, "loss-chart")
        points, grids = set(), set()
        cut_at = None
        while (state := text_of(driver, "#job-state")) not in ("succeeded", "failed"):
            if state == "running":
                points.add(int(chart.get_attribute("data-points") or 0))
                grids.add(driver.find_element(By.ID, "job-samples").get_attribute("src"))
            if cut_at is None and len(points - {0}) >= 2:  # mid-run: the network drops
                relay.cut()
                cut_at = time.monotonic()
                until(driver, lambda d: "reconnecting" in text_of(d, "#stream-state"), 5)
            time.sleep(0.2)
        assert state == "succeeded", text_of(driver, "#job-error")
        assert cut_at is not None and relay.cuts == 1
        assert len(points - {0}) >= 3, points  # the chart gained points while it ran
        assert len(grids - {None, ""}) >= 2, grids  # and the grid changed
        job = stack.store.list_jobs(limit=1)[0][0]
        total = job.progress["total_steps"]
        # caught up after the drop: the last step is on the chart, every point once
        assert int(chart.get_attribute("data-last-step")) == total
        assert until(driver, lambda d: "BCE 0.693" in text_of(d, "#ideal"))
        assert "conditional mean_accuracy" in until(driver, lambda d: text_of(d, "#job-figures"))

        served = until(driver, lambda d: d.find_element(By.ID, "job-served").is_displayed() and d)
        link = served.find_element(By.ID, "job-served")
        assert link.text.startswith("Served as console-digits (version 1)")
        model_url = link.get_attribute("href")

        # a job that fails: its error in words
        driver.get(relay.url + "/#/")
        until(driver, lambda d: d.find_element(By.ID, "train-view").is_displayed())
        Select(driver.find_element(By.ID, "preset")).select_by_value("mnist-cgan")
        fill(driver, "#dataset-source", "idx:/nowhere")
        submit_job(driver)
        error = until(driver, lambda d: d.find_element(By.ID, "job-error").is_displayed() and d)
        assert "failed" in text_of(error, "#job-error") and "data root" in text_of(
            error, "#job-error"
        )

        # the model the first job serves: digits by class
        driver.get(model_url)
        until(driver, lambda d: d.find_element(By.ID, "model-view").is_displayed())
        fill(driver, "#grid-n", "4")
        fill(driver, "#grid-seed", "20")
        driver.find_element(By.CSS_SELECTOR, "#grid-form button").click()
        until(driver, lambda d: "seeds 20-23" in text_of(d, "#grid-status"))
        sevens = driver.find_elements(By.CSS_SELECTOR, '#grid .cell[data-label="7"] img')
        assert len(sevens) == 4
        for image in sevens:
            png = base64.b64decode(
                image.get_attribute("src").removeprefix("data:image/png;base64,")
            )
            assert Image.open(io.BytesIO(png)).size == (28, 28)
        sevens[2].click()
        assert text_of(driver, "#cell-info") == "This image: class 7, seed 22"

        # a version that is loading: the page says so, waits Retry-After, and draws once ready
        # (the worker, whose reconciler would put the record right at once, is stopped first)
        worker.stop()
        stack.store.set_serving("console-digits", "1", "loading")
        time.sleep(MODEL_CACHE_S + 0.5)  # the gateway's cached record expires
        driver.find_element(By.CSS_SELECTOR, "#grid-form button").click()
        waiting = until(driver, lambda d: "trying again" in text_of(d, "#grid-status") and d, 10)
        assert "version 1 is loading" in text_of(waiting, "#grid-status")
        stack.store.set_serving("console-digits", "1", "ready")
        until(driver, lambda d: "seeds 20-23" in text_of(d, "#grid-status"), 30)

        Select(driver.find_element(By.ID, "strip-label")).select_by_value("7")
        driver.find_element(By.CSS_SELECTOR, "#strip-form button").click()
        until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#strip img")) == 10)

        # a phone's width: nothing wider than the screen; the form works from the keyboard
        driver.set_window_size(390, 844)
        driver.get(relay.url + "/#/")
        until(driver, lambda d: d.find_element(By.ID, "train-view").is_displayed())
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        reached = set()
        for _ in range(30):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            reached.add(driver.switch_to.active_element.get_attribute("id") or "")
        assert {"preset", "model", "training-epochs", "serve-as"} <= reached

        # on purpose: the refused key (401), the refused field (422), the loading model (503) and
        # the event stream the relay cut
        expected = ("401", "422", "503", "ERR_INCOMPLETE_CHUNKED_ENCODING")
        assert console_errors(driver, expected) == []
