#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: lint, then one pytest
# run over the unit, widget, server and grading tests in tests/ and the
# notebooks in notebooks/ and solutions/ (nbval, lax mode: every cell must
# run, and cells marked NBVAL_CHECK_OUTPUT must reproduce their outputs).
#
# Usage: bash tests/run_all.sh [VENV_BIN]   (default .venv/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.venv/bin}

"$bin/ruff" check course_lib tests bench notebooks solutions exercises
"$bin/ruff" format --check course_lib tests bench

# The browser tests drive Debian's chromium through Playwright; Playwright's
# own browser download cannot be used offline, so install the package when
# this is a root shell on Debian, and otherwise let those tests skip.
if [ -z "${COURSE_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium not found: the browser tests will be skipped." \
            "Install Debian's chromium package or set COURSE_CHROMIUM." >&2
    fi
fi

# One thread per process: the suite's models are tiny, and on a 2-core CI
# machine several processes (pytest, kernels, the browser) share the cores,
# where torch's default of one thread per core runs 5 to 10 times slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

targets=(tests notebooks)
if compgen -G "solutions/*.ipynb" >/dev/null; then
    targets+=(solutions)
fi

# pytest exits 5 when it collected no test, which this script passes on as
# a failure: a run that tested nothing must not look green.
exec "$bin/python" -m pytest --nbval-lax --durations=15 "${targets[@]}"
