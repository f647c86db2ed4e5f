# The REST gateway. No torch here: it only queues jobs (Celery over Redis) and calls TorchServe
# over HTTP, so a slim Debian with a few pinned packages is enough.
# Build from the repository root: docker build -f docker/gateway.Dockerfile .
# BASE_IMAGE: any Debian or Ubuntu with python3.11 (the compose test builds on Debian bookworm).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# Package versions are not pinned: the archive drops old ones, and the base tag fixes the release.
# Same uid/gid in every image: the services share named volumes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && groupadd --system --gid 10001 ganfoundry \
    && useradd --system --uid 10001 --gid 10001 --create-home ganfoundry \
    && install -d -o 10001 -g 10001 /var/lib/ganfoundry/artifacts

# Where pip looks, for hosts behind their own index or TLS proxy; unset, PyPI.
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
COPY docker/requirements-gateway.txt requirements.lock /tmp/
RUN pip install --no-cache-dir --constraint /tmp/requirements.lock -r /tmp/requirements-gateway.txt \
    && pip uninstall --yes pip setuptools

WORKDIR /app
# Exactly the modules the gateway imports: the rest of workers/ would need torch.
COPY services/ services/
COPY workers/__init__.py workers/spec.py workers/records.py workers/store.py workers/catalog.py workers/events.py workers/keys.py workers/settings.py workers/limits.py workers/celery_app.py workers/logs.py workers/
COPY workers/engine/__init__.py workers/engine/limits.py workers/engine/
COPY model_archive/__init__.py model_archive/client.py model_archive/image_request.py model_archive/problems.py model_archive/

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["gunicorn", "--config", "python:services.gunicorn_conf", "--bind", "0.0.0.0:8000", "services.wsgi:app"]
