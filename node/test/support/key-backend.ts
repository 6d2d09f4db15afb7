export { MemoryKeyBackend } from "../../src/keystore/memory-backend.js";
