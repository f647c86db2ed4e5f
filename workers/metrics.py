"""A training worker's Prometheus metrics, served from the worker process itself.

Counted here: training steps, jobs ended by outcome, the time a job waited between submission
and its start, the time it trained. Read from Redis at each scrape: jobs by state and the
training queue's depth (the same figures from every worker). Off unless
GANFOUNDRY_WORKER_METRICS_PORT is set; one port per worker process (ganfoundry-worker numbers
them on from it, one per GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from workers.catalog import PREFIX
from workers.celery_app import TRAINING_QUEUE
from workers.records import STATES

logger = logging.getLogger(__name__)
REGISTRY = CollectorRegistry()
STEPS = Counter(
    "ganfoundry_worker_training_steps", "Training steps this worker ran", registry=REGISTRY
)
JOBS = Counter(
    "ganfoundry_worker_jobs", "Jobs this worker ended, by outcome", ["outcome"], registry=REGISTRY
)
QUEUE_WAIT = Histogram(
    "ganfoundry_worker_queue_wait_seconds",
    "From a job's submission to its start on this worker (first attempts)",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
TRAINING = Histogram(
    "ganfoundry_worker_training_seconds",
    "Time a job trained on this worker, per attempt",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 14400),
    registry=REGISTRY,
)


class StoreCollector(Collector):
    """Jobs by state and the queue's depth, read from Redis when scraped."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterator[Any]:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for state in STATES:
                    pipe.zcard(f"{PREFIX}jobs:{state}")
                pipe.llen(TRAINING_QUEUE)
                *counts, depth = pipe.execute()
        except redis.RedisError as error:  # a scrape while Redis is away: the counters only
            logger.warning("metrics: redis unavailable: %s", error)
            return
        jobs = GaugeMetricFamily("ganfoundry_jobs", "Jobs by state (all workers)", labels=["state"])
        for state, count in zip(STATES, counts, strict=True):
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "ganfoundry_queue_depth", "Messages waiting in the training queue", value=depth
        )


def serve_metrics(port: int, bind: str, client: redis.Redis) -> None:
    """Serve /metrics on ``bind:port`` from a daemon thread of this process."""
    REGISTRY.register(StoreCollector(client))
    start_http_server(port, addr=bind, registry=REGISTRY)
    logger.info("metrics on http://%s:%d/metrics", bind, port)
