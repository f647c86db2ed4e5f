"""gunicorn's settings for the gateway (``gunicorn -c python:services.gunicorn_conf``).

gevent workers: each request is a greenlet, so a client following a job's events (a stream that
stays open for the whole job) holds a parked greenlet and a Redis connection, not one of a few
threads; 50 open streams leave ``generate`` as fast as with none (``bench/events_latency.py``).
Every blocking call the gateway makes (Redis, TorchServe over http.client) is on a socket that
gevent's patching makes cooperative. The bind address is given on the command line.

The workers' Prometheus figures go to files in PROMETHEUS_MULTIPROC_DIR (a fresh folder unless
set), which /metrics adds up; set here, in the master, before any worker imports the client.
"""

import glob
import os
import tempfile
from typing import Any


def _metrics_folder() -> str:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="gf-metrics-")
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):  # a previous run's figures
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def child_exit(_server: Any, worker: Any) -> None:
    """A worker that ended: its live gauges go (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


metrics_folder = _metrics_folder()

worker_class = "gevent"
workers = 2
worker_connections = 1000  # open requests per worker, event streams included
timeout = 60
graceful_timeout = 10
accesslog = None  # the gateway logs each request itself, as JSON with its id (services/logs.py)
