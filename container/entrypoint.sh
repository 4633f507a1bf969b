#!/bin/sh
# Runs the runner's HTTP API for the edge. RUNNER_TOKEN (set by the ContainerDO per start) guards every
# call; SIGTERM (from tini) makes `runner serve` cancel its tasks, flush their final events and exit.
set -eu
if [ -z "${RUNNER_TOKEN:-}" ]; then
  echo "openagents-entrypoint: RUNNER_TOKEN is not set; refusing to serve without a token" >&2
  exit 64
fi
exec node /app/packages/cli/bin/openagents.js runner serve --host 0.0.0.0 --port "${PORT:-8080}"
