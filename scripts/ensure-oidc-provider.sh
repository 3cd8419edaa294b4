#!/usr/bin/env bash
# The SSO tests sign in through a real OpenID provider (npm's certified oidc-provider, pinned in
# testkit/oidc/package-lock.json), started by each test on a free port.
set -euo pipefail
cd "$(dirname "$0")/../testkit/oidc"
if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.ready; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.ready
fi
