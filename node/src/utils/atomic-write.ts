import { randomBytes } from "node:crypto";
import { link, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Writes data so that a crash leaves either the old file or the new one, never a mix: a private
 * temp file in the same directory, fsync, then rename (or link, when `exclusive`, which fails with
 * EEXIST instead of replacing), then fsync of the directory so the new name itself is durable.
 */
export async function writeFileAtomic(path: string, data: string, exclusive = false): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let tmpLeft = true;
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (exclusive) {
      await link(tmp, path);
    } else {
      await rename(tmp, path);
      tmpLeft = false;
    }
  } finally {
    if (tmpLeft) await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return; // directories cannot be opened for fsync there
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
