#!/usr/bin/env bash
# The project's test command (`npm test`): static checks, then the test groups one after another
# (they share the machine's cores), then one closing line with the totals. A failing group does
# not stop the ones after it; the command fails at the end if any did.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== system packages"
bash hack/install-deps.sh
echo "== control-plane and cluster binaries (built once from Go modules, then cached)"
bash hack/control-plane.sh --cluster
echo "== build and type-check"
npx tsc -b node operator
npx tsc -p tsconfig.test.json
npx tsc -p operator/test
echo "== lint"
npx biome check .
echo "== codegen"
bash hack/check-codegen.sh
echo "== images: Dockerfiles and hack/build-images.sh agree"
node hack/check-images.mjs

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
failed=()
group() {
  local name=$1
  shift
  echo "== tests: $name"
  npx vitest run "$@" --reporter=default --reporter=json --outputFile="$results/$name.json" || failed+=("$name")
}
group unit --project unit --project operator
group component --project component
group integration --project integration
# A real node under attack from another process while a victim chat runs (test/hostile/README.md).
group hostile --project hostile
# The short chaos run (test/chaos/README.md); `npm run chaos -- --rounds 100` is the long one.
group chaos --project chaos
group controlplane --project controlplane
group e2e --project e2e

node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$results"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed groups: ${failed[*]}" >&2
  exit 1
fi
