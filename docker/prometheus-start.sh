#!/bin/sh
# Prometheus's secrets come from the environment: the gateway's metrics key
# (GANFOUNDRY_METRICS_KEY) and Flower's basic auth (FLOWER_BASIC_AUTH, user:password). Each goes
# into a file only this user reads, since a scrape config names files, not variables; then the
# config, with Flower's user filled in, and Prometheus itself.
set -eu
: "${GANFOUNDRY_METRICS_KEY:?set GANFOUNDRY_METRICS_KEY in docker/.env (and restart the gateway)}"
: "${FLOWER_BASIC_AUTH:?set GANFOUNDRY_FLOWER_AUTH (user:password) in docker/.env}"
secrets=/tmp/secrets  # the container's own layer, not the data volume
umask 077
mkdir -p "$secrets"
printf '%s' "$GANFOUNDRY_METRICS_KEY" >"$secrets/metrics-key"
printf '%s' "${FLOWER_BASIC_AUTH#*:}" >"$secrets/flower-password"
user=${FLOWER_BASIC_AUTH%%:*}
case "$user" in
  "" | *[!A-Za-z0-9_.-]*) echo "prometheus-start: Flower's user must be letters, digits, '_.-'" >&2; exit 2 ;;
esac
sed "s/@FLOWER_USER@/$user/" /etc/ganfoundry/prometheus.yml >"$secrets/prometheus.yml"
exec prometheus --config.file="$secrets/prometheus.yml" --storage.tsdb.path=/prometheus/data \
    --web.listen-address=0.0.0.0:9090
