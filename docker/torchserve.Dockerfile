# TorchServe for the generators, built on the workers' CUDA base with the workers' torch (the
# pytorch/torchserve:0.12.0-gpu image ships an older torch than the one that saves the weights).
# Build from the repository root: docker build -f docker/torchserve.Dockerfile .
FROM nvidia/cuda:13.0.0-base-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs

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
    && install -d -o model-server -g model-server /home/model-server/model-store /home/model-server/logs \
    && install -d -m 0700 -o model-server -g model-server /home/model-server/keys

COPY docker/requirements-torchserve.txt /tmp/requirements-torchserve.txt
RUN pip install --no-cache-dir -r /tmp/requirements-torchserve.txt
COPY model_archive/torchserve/compose.properties /home/model-server/config.properties

USER 10001:10001
# TorchServe writes its key file (key_file.json, mode 0600) into its working directory: a private
# folder, the torchserve-keys volume in compose. Logs go beside it (LOG_LOCATION), not into it.
WORKDIR /home/model-server/keys
# Only the inference port is meant for others (the gateway); management is for the workers.
EXPOSE 8080 8081 8082
# /ping wants the inference key, as every inference call does with token authorisation on
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, urllib.request; key = json.load(open('/home/model-server/keys/key_file.json'))['inference']['key']; ping = urllib.request.Request('http://127.0.0.1:8080/ping', headers={'Authorization': 'Bearer ' + key}); assert json.load(urllib.request.urlopen(ping, timeout=3))['status'] == 'Healthy'"]
CMD ["torchserve", "--start", "--foreground", "--ncs", "--ts-config", "/home/model-server/config.properties", "--model-store", "/home/model-server/model-store"]
