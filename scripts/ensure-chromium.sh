#!/usr/bin/env bash
# The browser test drives Debian's chromium (Playwright never downloads a browser here).
set -euo pipefail
if [[ ! -x /usr/bin/chromium ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
