#!/usr/bin/env bash
# The test command (README, .ci/run): a virtualenv in .venv with this checkout and the test tools, then pytest.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not network"` for the hermetic tests alone.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U "pip>=25.1"
.venv/bin/python -m pip install -q --disable-pip-version-check -e . --group test
exec .venv/bin/python -m pytest "$@"
