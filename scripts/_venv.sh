# Shared by run.sh and test.sh: create .venv (Python >= 3.11) and install a requirements file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
install_requirements() {
  # pip skips what is already installed, so a second start costs seconds.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$1"
}
