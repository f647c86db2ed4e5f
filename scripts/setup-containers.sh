#!/usr/bin/env bash
# What `make compose-test` needs on a Debian host without a Docker engine, installed from the
# machine's own package registries: podman with runc as its OCI runtime (and iptables, which
# netavark needs for bridge networks), podman-compose (PyPI, in
# .venv), debootstrap, and a Debian bookworm base image made from Debian's packages (no image
# registry is needed). Idempotent: each step checks first. Says what is missing where it cannot
# install, and exits 2 then.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BASE_IMAGE=${GANFOUNDRY_LOCAL_BASE:-localhost/ganfoundry-base:bookworm-slim}
PODMAN_COMPOSE_VERSION=1.6.0

say() { echo "setup-containers: $*"; }
missing() { say "$*" >&2; exit 2; }

install_packages() {
  local wanted=()
  for pkg in podman runc netavark aardvark-dns iptables debootstrap uidmap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || wanted+=("$pkg")
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    missing "needs ${wanted[*]} (Debian packages) and root to install them; install them, then run again"
  fi
  say "installing ${wanted[*]} from Debian's packages"
  # podman's packages would start nothing, but be safe: no daemon is started by the install
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null ||
    { timeout 300 apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null; } ||
    missing "apt-get could not install ${wanted[*]}"
}

# runc, not crun (crun fails on this kernel's cgroup layout); no raised rlimits in containers
# (raising them is not permitted here); netavark with aardvark-dns, not CNI, whose networks have
# no DNS between containers without a plugin Debian does not ship. Written once; an existing
# file is left as it is.
configure_podman() {
  local conf=/etc/containers/containers.conf.d/50-ganfoundry.conf
  [ -f "$conf" ] && return 0
  [ "$(id -u)" = "0" ] || missing "needs $conf (runc runtime, no default ulimits); run as root once"
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<'CONF'
# written by GAN Foundry's scripts/setup-containers.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
CONF
  say "wrote $conf"
}

install_podman_compose() {
  [ -x "$BIN/podman-compose" ] && return 0
  [ -x "$BIN/pip" ] || missing "no $BIN/pip: run make setup first"
  say "installing podman-compose $PODMAN_COMPOSE_VERSION into $BIN"
  "$BIN/pip" install --quiet "podman-compose==$PODMAN_COMPOSE_VERSION" || missing "pip could not install podman-compose"
}

# A minimal Debian bookworm, made by debootstrap from deb.debian.org and imported into podman,
# slimmed as Debian's own "bookworm-slim" image is (the images' default base): no manuals, docs
# or translations, now or in what apt installs later, and no apt caches left in a layer.
make_base() {
  podman image exists "$BASE_IMAGE" && return 0
  local root
  root=$(mktemp -d /var/tmp/ganfoundry-base.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  say "making $BASE_IMAGE with debootstrap (about a minute)"
  timeout 900 debootstrap --variant=minbase --include=ca-certificates bookworm "$root" http://deb.debian.org/debian >/dev/null ||
    missing "debootstrap could not fetch Debian bookworm from deb.debian.org"
  cat >"$root/etc/dpkg/dpkg.cfg.d/ganfoundry-slim" <<'DPKG'
# written by GAN Foundry's scripts/setup-containers.sh: keep images small
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
DPKG
  cat >"$root/etc/apt/apt.conf.d/ganfoundry-clean" <<'APT'
// written by GAN Foundry's scripts/setup-containers.sh: no package or index caches in a layer
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Acquire::Languages "none";
APT
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
  say "imported $BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | numfmt --to=si)B)"
}

# A container on a bridge network of its own, as compose makes them: proves runtime, network and base
smoke_test() {
  local net=ganfoundry-setup-check-$$
  podman network create "$net" >/dev/null || missing "podman cannot make a bridge network"
  podman run --rm --network "$net" "$BASE_IMAGE" true ||
    { podman network rm -f "$net" >/dev/null; missing "podman cannot run a container on a bridge network"; }
  podman network rm -f "$net" >/dev/null 2>&1
}

install_packages
configure_podman
install_podman_compose
make_base
smoke_test
say "ready: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), base $BASE_IMAGE"
