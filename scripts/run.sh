#!/usr/bin/env bash
# Run the platform: migrate, make sure the demo tenant exists (printing its login), then serve
# with Daphne. With REDIS_URL (or CELERY_BROKER_URL) set, a Celery worker and beat run too.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
PY="$VENV/bin/python"

"$PY" manage.py migrate --noinput
"$PY" manage.py bootstrap_demo --url "http://$HOST:$PORT"

children=()
# SIGTERM reaches every child; waiting for them lets Daphne drain its chats (CHAT_DRAIN_TIMEOUT_S).
cleanup() {
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap cleanup EXIT INT TERM

# Redis: REDIS_URL, or a Sentinel set or a Cluster (infra/redis_topology.py).
REDIS_SET="${REDIS_URL:-}${REDIS_SENTINELS:-}${REDIS_CLUSTER_NODES:-}"
if [[ -n "$REDIS_SET${CELERY_BROKER_URL:-}" ]]; then
  "$VENV/bin/celery" -A chatplatform worker --loglevel=INFO --pool threads --concurrency="${CELERY_CONCURRENCY:-4}" &
  children+=($!)
  "$VENV/bin/celery" -A chatplatform beat --loglevel=INFO --schedule="${CELERY_BEAT_SCHEDULE_FILE:-/tmp/chatplatform-beat}" &
  children+=($!)
fi

# Daphne keeps Python's objects in an allocator that gives freed memory back to the system after a
# wave of closed sockets (infra.memory; Python's own keeps a 1 MiB arena while one object in
# it lives): jemalloc, purging in a background thread, where installed (Debian: libjemalloc2), or
# else glibc's malloc, which infra.memory trims.
JEMALLOC=${JEMALLOC-$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2 2>/dev/null | head -1 || true)}
daphne_env=(PYTHONMALLOC="${PYTHONMALLOC:-malloc}")
if [[ -n "$JEMALLOC" && "${PYTHONMALLOC:-malloc}" == malloc ]]; then
  daphne_env+=(LD_PRELOAD="$JEMALLOC" MALLOC_CONF="${MALLOC_CONF:-background_thread:true}")
fi
# DAPHNE_PROCESSES: Daphne processes sharing the port (SO_REUSEPORT; one per core is the rule),
# which needs Redis: the processes share nothing else. Their metrics are summed at /metrics
# (prometheus_client's multiprocess mode, in PROMETHEUS_MULTIPROC_DIR).
PROCESSES=${DAPHNE_PROCESSES:-1}
if (( PROCESSES > 1 )); then
  if [[ -z "$REDIS_SET" ]]; then
    echo "DAPHNE_PROCESSES > 1 needs REDIS_URL (the processes share limits, answers and sockets through it)" >&2
    exit 2
  fi
  export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$(mktemp -d -t chatplatform-metrics-XXXXXX)}
  rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"/*
  daphne_env+=(DAPHNE_REUSEPORT=1)
fi
for _ in $(seq "$PROCESSES"); do
  env "${daphne_env[@]}" "$VENV/bin/python" -m chatplatform.server -b "$HOST" -p "$PORT" \
    chatplatform.asgi:application &
  children+=($!)
done
wait -n
