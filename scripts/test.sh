#!/usr/bin/env bash
# Run the whole suite on the real PostgreSQL and Redis (started here when they are down).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
scripts/ensure-services.sh
scripts/ensure-chromium.sh
scripts/ensure-promtool.sh
scripts/ensure-pgbouncer.sh
scripts/ensure-oidc-provider.sh
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://root@127.0.0.1:5432/chatplatform}
# Redis database 1 for the suite, 2 for the platforms it starts: both flushed by the suite.
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check . >/dev/null
"$VENV/bin/mypy" .
"$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache
# Parallel workers (TEST_WORKERS, 2 by default: this machine's cores; 0 runs in one process),
# each given whole test files (their module-scoped platforms stay in one worker), its own test
# database (pytest-django) and its own Redis databases (testkit.parallel, a plugin loaded before
# the settings are read). Live platforms, PostgreSQL clusters and Celery workers take free ports
# and temporary folders of their own.
export PYTHONPATH=$PWD
exec "$VENV/bin/pytest" -p testkit.parallel -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
