#!/usr/bin/env bash
# Set up (first time) and launch the app: bash scripts/run.sh [--model NAME] [--engine vllm] [app options]
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_vllm.sh"
install_requirements requirements.txt
if wants_vllm "$@"; then
  install_vllm
fi
exec .venv/bin/python app.py "$@"
