#!/usr/bin/env bash
# The project's test command (`npm test`): static checks, then every vitest project.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== system packages"
bash hack/install-deps.sh
echo "== build"
npx tsc -b node
npx tsc -p tsconfig.test.json
echo "== lint"
npx biome check .
echo "== codegen"
bash hack/check-codegen.sh
echo "== tests"
npx vitest run "$@"
