#!/bin/sh
# TorchServe in the foreground, after saying plainly what it cannot use: a model-store volume it
# cannot read (a wrong owner or mode) would otherwise show only as models that fail to load. What
# it finds goes to the log and to start-problems.txt beside the key file, which the gateway's
# /readyz reports (model_archive/client.py, START_PROBLEMS).
store=/home/model-server/model-store
problems=start-problems.txt
rm -f "$problems"
say() {
  echo "torchserve-start: $*" >&2
  echo "torchserve-start: $*" >>"$problems" 2>/dev/null
}
if [ ! -w . ]; then
  say "cannot write its key file into $(pwd) (owner $(stat -c %u:%g .)); this container runs as $(id -u):$(id -g)."
fi
if [ ! -r "$store" ] || [ ! -x "$store" ]; then
  say "cannot read the model store $store (owner $(stat -c %u:%g "$store"), mode $(stat -c %a "$store")); this container runs as $(id -u):$(id -g). Give the volume to uid 10001 or make it readable."
fi
# A socket left by a TorchServe that was killed would stop the next one from binding its own.
socket=$(sed -n 's/^management_address=unix://p' /home/model-server/config.properties)
if [ -n "$socket" ]; then
  rm -f "$socket"
fi
exec torchserve --start --foreground --ncs --ts-config /home/model-server/config.properties \
  --model-store "$store"
