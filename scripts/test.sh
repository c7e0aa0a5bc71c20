#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: bash scripts/test.sh [pytest options]
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
install_requirements requirements-test.txt
exec .venv/bin/python -m pytest "$@"
