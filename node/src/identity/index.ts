export { CHAT_ID_PATTERN, deriveId, ID_PATTERN, idMatchesKey } from "./ids.js";
export { Identity } from "./keypair.js";
export { encodeFields, type Field, type SigningLabel, sign, signingPayload, verify } from "./signing.js";
