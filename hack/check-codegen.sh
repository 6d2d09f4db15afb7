#!/usr/bin/env bash
# Regenerates the protocol code and fails if it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd proto && npx buf lint)
npm run gen --silent
if ! git diff --exit-code --stat -- proto/src/gen; then
  echo "generated code is stale: run 'npm run gen' and commit proto/src/gen" >&2
  exit 1
fi
if [ -n "$(git ls-files --others --exclude-standard proto/src/gen)" ]; then
  echo "generated files are not committed: $(git ls-files --others --exclude-standard proto/src/gen)" >&2
  exit 1
fi
echo "codegen: up to date"
