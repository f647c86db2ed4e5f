# The REST gateway. No torch here: it only queues jobs (Celery over Redis) and calls TorchServe
# over HTTP, so a slim image with five pinned packages is enough.
# Build from the repository root: docker build -f docker/gateway.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Same uid/gid in every image: the services share named volumes.
RUN groupadd --system --gid 10001 ganfoundry \
    && useradd --system --uid 10001 --gid 10001 --create-home ganfoundry \
    && install -d -o ganfoundry -g ganfoundry /var/lib/ganfoundry/artifacts

COPY docker/requirements-gateway.txt /tmp/requirements-gateway.txt
RUN pip install --no-cache-dir -r /tmp/requirements-gateway.txt

WORKDIR /app
# Exactly the modules the gateway imports: the rest of workers/ would need torch.
COPY services/ services/
COPY workers/__init__.py workers/spec.py workers/records.py workers/store.py workers/catalog.py workers/settings.py workers/limits.py workers/celery_app.py workers/
COPY workers/engine/__init__.py workers/engine/limits.py workers/engine/
COPY model_archive/__init__.py model_archive/client.py model_archive/image_request.py model_archive/problems.py model_archive/

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["gunicorn", "services.wsgi:app", "--worker-class", "gthread", "--workers", "2", "--threads", "8", "--bind", "0.0.0.0:8000"]
