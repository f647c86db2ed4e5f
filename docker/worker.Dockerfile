# Training workers: ganfoundry-worker starts one Celery process per GPU it can see.
# Build from the repository root: docker build -f docker/worker.Dockerfile .
# The PyPI torch wheels carry their own CUDA 13.0 libraries, so CUDA's small "base" flavour is
# enough; its NVIDIA_REQUIRE_CUDA stops a host driver too old for CUDA 13 at start, not mid-job.
FROM nvidia/cuda:13.0.0-base-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# Ubuntu package versions are not pinned: the archive drops old ones, and the base tag fixes the
# release. Same uid/gid in every image: the services share named volumes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && groupadd --system --gid 10001 ganfoundry \
    && useradd --system --uid 10001 --gid 10001 --create-home ganfoundry \
    && install -d -o ganfoundry -g ganfoundry /var/lib/ganfoundry/artifacts \
        /var/lib/ganfoundry/data /var/lib/ganfoundry/model-store

WORKDIR /src
# The dependencies first, read from pyproject.toml at the versions of requirements.lock (the same
# as `make setup` installs): a code change does not refetch torch.
COPY pyproject.toml README.md requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir --constraint requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY services/ services/
COPY workers/ workers/
COPY model_archive/ model_archive/
RUN pip install --no-cache-dir --no-deps .

USER 10001:10001
WORKDIR /home/ganfoundry
CMD ["ganfoundry-worker"]
