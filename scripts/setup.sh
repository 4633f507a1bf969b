#!/usr/bin/env bash
# Installs what the project needs, idempotently: system packages from apt, npm packages (Node 22
# comes from the `node` devDependency), and the Python test peers in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in bwrap:bubblewrap socat:socat rg:ripgrep git:git curl:curl chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# npm install is a no-op when node_modules matches the lock file; skip even that when nothing changed.
stamp=node_modules/.openagents-install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ] \
  || [ -n "$(find packages -maxdepth 2 -name package.json -newer "$stamp" 2>/dev/null)" ]; then
  echo "setup: npm install" >&2
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# Python test peers: an independent Nostr relay and client (see ARCHITECTURE.md, FIELD-NOTES.md).
if [ -f scripts/python-requirements.txt ]; then
  pystamp=.venv/.openagents-install-stamp
  if [ ! -f "$pystamp" ] || [ scripts/python-requirements.txt -nt "$pystamp" ]; then
    echo "setup: python test peers in .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install -q -r scripts/python-requirements.txt
    touch "$pystamp"
  fi
fi
