# Prometheus for compose's monitoring profile, from the base's own packages (no image registry
# needed), with the project's scrape config. Build from the repository root:
#   docker build -f docker/prometheus.Dockerfile .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
# The package makes its own system user, "prometheus" (its postinst refuses one made before
# with a uid above the system range); Prometheus shares no volume with the other services.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o prometheus -g prometheus /prometheus /etc/ganfoundry

COPY docker/prometheus.yml /etc/ganfoundry/prometheus.yml
COPY docker/prometheus-start.sh /usr/local/bin/prometheus-start

# the package picks the uid (a system one); its name is what stays the same
# hadolint ignore=DL3066
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9090/-/ready"]
CMD ["prometheus-start"]
