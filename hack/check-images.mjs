// Fails when a Dockerfile and hack/build-images.sh disagree about an image: the paths its final
// stage copies (and their owners), user, workdir, environment, ports, entrypoint and command.
//   node hack/check-images.mjs [DOCKERFILE_DIR]   (default: the repository root)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";

const hack = dirname(fileURLToPath(import.meta.url));
const dockerfiles = process.argv[2] ?? join(hack, "..");

/** The final stage's instructions, continuation lines joined, comments dropped. */
function finalStage(text) {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const from = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  return lines.slice(from + 1);
}

const words = (args) => (args.startsWith("[") ? JSON.parse(args) : args.split(/\s+/));

/** The Dockerfile's final stage as the normalized lines `build-images.sh --describe` prints. */
function describeDockerfile(text) {
  const out = [];
  let workdir = "/";
  for (const line of finalStage(text)) {
    const [, op, args] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    switch (op?.toUpperCase()) {
      case "WORKDIR":
        workdir = posix.resolve(workdir, args);
        out.push(`workdir ${workdir}`);
        break;
      case "ENV":
        for (const pair of args.match(/\S+=("[^"]*"|\S+)/g) ?? []) out.push(`env ${pair.replace(/"/g, "")}`);
        break;
      case "COPY": {
        const parts = words(args);
        const owner = parts.find((p) => p.startsWith("--chown="))?.slice("--chown=".length);
        const paths = parts.filter((p) => !p.startsWith("--"));
        const dest = paths.pop();
        for (const src of paths) {
          const toDir = dest.endsWith("/") || dest === "." || paths.length > 1;
          const target = posix.resolve(workdir, toDir ? posix.join(dest, basename(src)) : dest);
          out.push(owner ? `path ${target} ${owner}` : `path ${target}`);
        }
        break;
      }
      case "USER":
        out.push(`user ${args}`);
        break;
      case "EXPOSE":
        out.push(`expose ${args.split(/\s+/).join(" ")}`);
        break;
      case "ENTRYPOINT":
        out.push(`entrypoint ${words(args).join(" ")}`);
        break;
      case "CMD":
        out.push(`cmd ${words(args).join(" ")}`);
        break;
      // HEALTHCHECK is Docker's own (Kubernetes ignores it); ARG and LABEL change nothing at run time.
    }
  }
  return out.sort();
}

let failed = false;
for (const image of ["node", "operator"]) {
  const file = join(dockerfiles, `Dockerfile.${image}`);
  const fromDockerfile = describeDockerfile(readFileSync(file, "utf8"));
  const fromScript = execFileSync("bash", [join(hack, "build-images.sh"), "--describe", image], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .sort();
  const onlyDockerfile = fromDockerfile.filter((l) => !fromScript.includes(l));
  const onlyScript = fromScript.filter((l) => !fromDockerfile.includes(l));
  if (onlyDockerfile.length || onlyScript.length) {
    failed = true;
    console.error(`check-images: ${file} and hack/build-images.sh (spec_${image}) disagree:`);
    for (const l of onlyDockerfile) console.error(`  only in the Dockerfile:  ${l}`);
    for (const l of onlyScript) console.error(`  only in build-images.sh: ${l}`);
  } else {
    console.log(`check-images: Dockerfile.${image} and build-images.sh agree (${fromScript.length} facts)`);
  }
}
process.exit(failed ? 1 : 0);
