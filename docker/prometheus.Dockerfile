# Prometheus for compose's monitoring profile, from the base's own packages (no image registry
# needed), with the project's scrape config. Build from the repository root:
#   docker build -f docker/prometheus.Dockerfile .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
# The user first, with a uid the other images leave free, so the package adopts it.
# hadolint ignore=DL3008
RUN groupadd --system --gid 10003 prometheus \
    && useradd --system --uid 10003 --gid 10003 --home-dir /prometheus --no-create-home prometheus \
    && apt-get update \
    && apt-get install -y --no-install-recommends prometheus curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o 10003 -g 10003 /prometheus /etc/ganfoundry

COPY docker/prometheus.yml /etc/ganfoundry/prometheus.yml
COPY docker/prometheus-start.sh /usr/local/bin/prometheus-start

USER 10003:10003
WORKDIR /prometheus
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9090/-/ready"]
CMD ["prometheus-start"]
