// `node --import ./register-typescript.mjs runner.ts`: runs the app runner's TypeScript as it is,
// so the runner and the harness share one set of types. Node 20 cannot strip types itself.
import { register } from "node:module";

register("./typescript-hooks.mjs", import.meta.url);
