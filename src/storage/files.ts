// Writing files in the storage root without ever leaving a half-written one.
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { storageError } from './lock.js'

/// Write `content` to `path` atomically: a temporary file beside it (a
/// random name, created exclusively), fsync, rename over `path`.
export async function writeAtomically(path: string, content: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const fh = await open(tmp, 'wx', mode)
    try {
      await fh.writeFile(content)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw storageError(path, err)
  }
}
