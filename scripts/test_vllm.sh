#!/usr/bin/env bash
# The remote-backend tests against a real vLLM: bash scripts/test_vllm.sh [pytest options]
#
# Installs vLLM's CPU build into .venv-vllm (scripts/_vllm.sh, once), starts the offline
# preview model on it the way the app does (engine/vllm_engine.py: about 3 min), runs
# tests/vllm against it with the main venv (a kill -9 restart included), and stops it.
# BIMEDIX_SKIP_VLLM=1 skips all of it on a developer's machine; CI refuses to skip.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_vllm.sh"
if [ "${BIMEDIX_SKIP_VLLM:-}" = 1 ]; then
  if [ -n "${CI:-}" ]; then
    echo "BIMEDIX_SKIP_VLLM is set, but CI never skips the vLLM tests." >&2
    exit 1
  fi
  echo "Skipping the vLLM tests (BIMEDIX_SKIP_VLLM=1)." >&2
  exit 0
fi
install_requirements requirements-test.txt
install_vllm
exec .venv/bin/python -m tests.vllm.serve_and_test "$@"
