#!/usr/bin/env bash
# The suite checks the Prometheus rules with promtool (Debian's prometheus package; its server is
# not started here).
set -euo pipefail
if ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
