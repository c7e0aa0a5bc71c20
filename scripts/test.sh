#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: bash scripts/test.sh [pytest options]
# The whole suite is the main one, then the remote-backend tests against a real vLLM
# (scripts/test_vllm.sh: its own venv, once). Given test paths or -k/-m, only pytest runs.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
install_requirements requirements-test.txt

# install_debian_package PACKAGE WHAT_FOR: apt-get it as root; else say how. A failed install
# is reported, not fatal: the tests that need it then say why they cannot run (in CI: fail).
install_debian_package() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian $1 for $2..." >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "$1" >/dev/null; } ||
      echo "Could not install $1 (no package mirror?); $2 will not run." >&2
  else
    echo "$2 need Debian's $1. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $1" >&2
  fi
}

# Browser tests drive Debian's chromium; Playwright's own browser download is not used.
[ -x /usr/bin/chromium ] || install_debian_package chromium "the browser tests"
# The arena's tests run on SQLite and on a real PostgreSQL, started on a private port and
# data folder (evaluate/servers.py).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
  install_debian_package postgresql "the arena's PostgreSQL tests"
.venv/bin/python -m pytest "$@"
for argument in "$@"; do
  case "$argument" in
    -k|-m|-k*|-m*|[!-]*) exit 0 ;;  # a selection, not the whole suite
  esac
done
bash scripts/test_vllm.sh "$@"
