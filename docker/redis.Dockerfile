# Redis for the queue and the records, from the base's own packages: built like the other images,
# so the stack needs no image but its base, and run as a user of its own with the append-only file.
# Build from the repository root: docker build -f docker/redis.Dockerfile .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
# The user first, with the uid the other images leave free, so the package adopts it.
# hadolint ignore=DL3008
RUN groupadd --system --gid 10002 redis \
    && useradd --system --uid 10002 --gid 10002 --home-dir /data --no-create-home redis \
    && apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o 10002 -g 10002 /data

USER 10002:10002
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["sh", "-c", "redis-cli ping | grep -q PONG"]
# the queue and the job records must survive a restart: the append-only file, fsync every second
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes", "--appendfsync", "everysec"]
