#!/usr/bin/env bash
# The live suite runs the chat path through PgBouncer in transaction mode (Debian's pgbouncer; its
# service is not started here: the test starts its own on a free port).
set -euo pipefail
if ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
fi
