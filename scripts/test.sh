#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: bash scripts/test.sh [pytest options]
# The whole suite is the main one, then the remote-backend tests against a real vLLM
# (scripts/test_vllm.sh: its own venv, once). Given test paths or -k/-m, only pytest runs.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
install_requirements requirements-test.txt

# Browser tests (tests/ui/test_browser.py) need Debian's chromium; Playwright's own browser
# download is not used. Without it they are skipped, or fail when CI is set.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian chromium for the browser tests..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # A failed install is reported, not fatal: the browser tests then say why they cannot run.
    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
      echo "Could not install chromium (no package mirror?); browser tests will not run." >&2
  else
    echo "Browser tests need Debian's chromium at /usr/bin/chromium. Install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
  fi
fi
.venv/bin/python -m pytest "$@"
for argument in "$@"; do
  case "$argument" in
    -k|-m|-k*|-m*|[!-]*) exit 0 ;;  # a selection, not the whole suite
  esac
done
bash scripts/test_vllm.sh "$@"
