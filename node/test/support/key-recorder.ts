import { cryptoBackend } from "../../src/crypto/index.js";

type Primitive = (...args: Uint8Array[]) => Uint8Array;

/**
 * Wraps the process's crypto backend to record every key it seals or opens with and every
 * X25519 agreement and key pair it makes; stop() puts the backend back.
 */
export function recordKeys() {
  const backend = cryptoBackend() as unknown as Record<string, Primitive | (() => unknown)>;
  const original = { ...backend };
  const used = {
    sealed: [] as Uint8Array[],
    opened: [] as Uint8Array[],
    agreed: [] as Uint8Array[],
    secrets: [] as Uint8Array[],
  };
  const wrap = (name: string, record: (args: Uint8Array[], out: unknown) => void) => {
    const fn = original[name] as Primitive;
    backend[name] = (...args: Uint8Array[]) => {
      const out = fn(...args);
      record(args, out);
      return out;
    };
  };
  wrap("seal", ([key]) => used.sealed.push(Uint8Array.from(key!)));
  wrap("open", ([key]) => used.opened.push(Uint8Array.from(key!)));
  wrap("x25519", ([secret], out) => {
    used.secrets.push(Uint8Array.from(secret!));
    used.agreed.push(Uint8Array.from(out as Uint8Array));
  });
  wrap("x25519KeyPair", (_, out) =>
    used.secrets.push(Uint8Array.from((out as { secretKey: Uint8Array }).secretKey)),
  );
  return {
    ...used,
    all: (): Uint8Array[] => [...used.sealed, ...used.opened, ...used.agreed, ...used.secrets],
    stop: (): void => {
      Object.assign(backend, original);
    },
  };
}
