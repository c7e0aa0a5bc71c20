# Shared by run.sh and test.sh: create .venv (Python >= 3.11) and install a requirements file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
install_requirements() {
  # pip re-checking an unchanged environment costs about 8 s per start: skip it while the
  # requirement files (all of them: one includes another) are those last installed.
  local stamp=".venv/.installed-$(basename "$1").sha256"
  local wanted
  wanted="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$1"
  echo "$wanted" > "$stamp"
}
