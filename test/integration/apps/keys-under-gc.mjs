// Makes keys with the native crypto backend while V8 runs a full garbage collection every few
// allocations (node --gc-interval=20 --gc-global), so that a collection lands inside every
// native call that allocates, for DURATION_MS. Prints how many rounds it did; a backend that takes
// a lock a collection also takes never gets there (keys-under-gc.test.ts).
import * as nodeCrypto from "node:crypto";
import { nativeBackend } from "../../../node/dist/crypto/native.js";

const until = Date.now() + Number(process.argv[2]);
const backend = nativeBackend(nodeCrypto);
const peer = backend.x25519KeyPair().publicKey;
const shift = [];
let rounds = 0;
for (; Date.now() < until; rounds++) {
  // A few allocations more or less each round, so the collections land at every point of the calls.
  shift.length = 0;
  for (let k = Math.floor(Math.random() * 17); k > 0; k--) shift.push({ k });
  backend.x25519KeyPair().agree(peer);
  backend.x25519Fresh(peer);
  backend.signingKey(nodeCrypto.randomBytes(32)).sign(peer);
}
console.log(rounds);
