# The worker and TorchServe images, built from one shared torch layer (several GB) so that the two
# do not each carry their own copy. Build from the repository root, one target each:
#   docker build -f docker/torch.Dockerfile --target worker .
#   docker build -f docker/torch.Dockerfile --target torchserve .
# BASE_IMAGE: CUDA's small "base" flavour by default; the PyPI torch wheels carry their own CUDA 13.0
# libraries, and its NVIDIA_REQUIRE_CUDA stops a host driver too old for CUDA 13 at start, not
# mid-job. Any Debian or Ubuntu with python3.11 works (the compose test builds on Debian bookworm).
ARG BASE_IMAGE=nvidia/cuda:13.0.0-base-ubuntu22.04

FROM ${BASE_IMAGE} AS torch
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
    && useradd --system --uid 10001 --gid 10001 --create-home ganfoundry
# Where pip looks, for hosts behind their own index or TLS proxy; unset, PyPI.
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
COPY docker/requirements-torch.txt /tmp/requirements-torch.txt
RUN pip install --no-cache-dir -r /tmp/requirements-torch.txt

FROM torch AS torchserve
ENV LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs
# TorchServe 0.12 needs Java 17. Its package links its manual pages into man1, which slim bases
# (Debian's bookworm-slim, the compose test's base) leave out: the folder must be there.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o 10001 -g 10001 /home/model-server /home/model-server/model-store /home/model-server/logs \
    && install -d -m 0700 -o 10001 -g 10001 /home/model-server/keys /home/model-server/management
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
COPY docker/requirements-torchserve.txt /tmp/requirements-torchserve.txt
RUN pip install --no-cache-dir --constraint /tmp/requirements-torch.txt -r /tmp/requirements-torchserve.txt
COPY model_archive/torchserve/compose.properties /home/model-server/config.properties
COPY docker/torchserve-start.sh /usr/local/bin/torchserve-start
USER 10001:10001
# TorchServe writes its key file (key_file.json, mode 0600) into its working directory: a private
# folder, the torchserve-keys volume in compose. Logs go beside it (LOG_LOCATION), not into it.
WORKDIR /home/model-server/keys
# Only the inference port is meant for others (the gateway); in compose the management API is a
# Unix socket in /home/model-server/management, and the metrics stay on the loopback.
EXPOSE 8080
# /ping wants the inference key, as every inference call does with token authorisation on
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, urllib.request; key = json.load(open('/home/model-server/keys/key_file.json'))['inference']['key']; ping = urllib.request.Request('http://127.0.0.1:8080/ping', headers={'Authorization': 'Bearer ' + key}); assert json.load(urllib.request.urlopen(ping, timeout=3))['status'] == 'Healthy'"]
CMD ["torchserve-start"]

FROM torch AS worker
RUN install -d -o 10001 -g 10001 /var/lib/ganfoundry/artifacts /var/lib/ganfoundry/data \
        /var/lib/ganfoundry/model-store \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/ganfoundry/torchserve-keys \
        /var/lib/ganfoundry/torchserve-management
WORKDIR /src
# The dependencies first, read from pyproject.toml at the versions of requirements.lock (the same
# as `make setup` installs): a code change rebuilds only the layers below.
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir --constraint requirements.lock -r /tmp/requirements.txt 'setuptools>=68' \
    && rm /tmp/requirements.txt
COPY README.md ./
COPY services/ services/
COPY workers/ workers/
COPY model_archive/ model_archive/
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm -rf build ./*.egg-info
USER 10001:10001
WORKDIR /home/ganfoundry
CMD ["ganfoundry-worker"]
