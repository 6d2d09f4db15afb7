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
# Each group is bounded at a few times its usual length (hack/bounded.sh): one that hangs fails with
# what its processes were doing, and the groups after it still run.
group() {
  local name=$1 minutes=$2
  shift 2
  echo "== tests: $name"
  bash hack/bounded.sh $((minutes * 60)) npx vitest run "$@" --reporter=default --reporter=json \
    --outputFile="$results/$name.json" || failed+=("$name")
}
group unit 8 --project unit --project operator
group component 8 --project component
group integration 12 --project integration
# A real node under attack from another process while a victim chat runs (test/hostile/README.md).
group hostile 8 --project hostile
# The short chaos run (test/chaos/README.md); `npm run chaos -- --rounds 100` is the long one.
group chaos 15 --project chaos
group controlplane 12 --project controlplane
group e2e 25 --project e2e

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
