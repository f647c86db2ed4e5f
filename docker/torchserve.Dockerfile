# TorchServe for the generators, built on the workers' CUDA base with the workers' torch (the
# pytorch/torchserve:0.12.0-gpu image ships an older torch than the one that saves the weights).
# Build from the repository root: docker build -f docker/torchserve.Dockerfile .
FROM nvidia/cuda:13.0.0-base-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# TorchServe 0.12 needs Java 17. Ubuntu package versions are not pinned: the archive drops old
# ones, and the base tag fixes the release. The uid/gid match the workers', who write the archives
# into the shared model store.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && groupadd --system --gid 10001 model-server \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/model-server model-server \
    && install -d -o model-server -g model-server /home/model-server/model-store

COPY docker/requirements-torchserve.txt /tmp/requirements-torchserve.txt
RUN pip install --no-cache-dir -r /tmp/requirements-torchserve.txt
COPY model_archive/torchserve/compose.properties /home/model-server/config.properties

USER 10001:10001
WORKDIR /home/model-server
# Only the inference port is meant for others (the gateway); management is for the workers.
EXPOSE 8080 8081 8082
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, urllib.request; assert json.load(urllib.request.urlopen('http://127.0.0.1:8080/ping', timeout=3))['status'] == 'Healthy'"]
CMD ["torchserve", "--start", "--foreground", "--ncs", "--ts-config", "/home/model-server/config.properties", "--model-store", "/home/model-server/model-store"]
