#!/usr/bin/env bash
# Set up (first time) and launch the app: bash scripts/run.sh [--model NAME] [app options]
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
install_requirements requirements.txt
exec .venv/bin/python app.py "$@"
