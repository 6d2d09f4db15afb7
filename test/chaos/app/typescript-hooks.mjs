// Module hooks for the app runner: `.ts` files are transpiled (types removed, nothing checked:
// tsconfig.test.json type-checks them), and a relative `./x.js` import from a `.ts` file finds
// `./x.ts`, the convention the rest of the test code follows.
import { readFile } from "node:fs/promises";
import ts from "typescript";

export async function resolve(specifier, context, next) {
  if (specifier.startsWith(".") && specifier.endsWith(".js") && context.parentURL?.endsWith(".ts")) {
    try {
      return await next(specifier.replace(/\.js$/, ".ts"), context);
    } catch {
      // a real .js file
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith(".ts")) return next(url, context);
  const source = await readFile(new URL(url), "utf8");
  const { outputText } = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      inlineSourceMap: true,
    },
  });
  return { format: "module", source: outputText, shortCircuit: true };
}
