import { open, readFile, unlink } from 'node:fs/promises'
import { SwarmpadError } from '../errors.js'

/// True when a process with this pid exists (ours or another user's).
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/// An exclusive claim on a storage root: a file holding the owner's pid,
/// created with O_EXCL. A file left by a process that no longer runs is
/// stale and replaced. Released by close().
export class PidLock {
  private held = false

  constructor(readonly path: string) {}

  async acquire(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.path, 'wx', 0o600)
        await fh.writeFile(`${process.pid}\n`)
        await fh.sync()
        await fh.close()
        this.held = true
        return
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'EEXIST') throw storageError(this.path, err)
      }
      const pid = await readPid(this.path)
      if (pid !== null && pid !== process.pid && processAlive(pid)) {
        throw new SwarmpadError(
          'STORAGE_LOCKED',
          `${this.path.replace(/\/[^/]*$/, '')} is in use by pid ${pid} (another swarmpad); stop it with \`swarmpad stop\` or use another --home`
        )
      }
      // Stale: its process is gone (or the file is unreadable garbage).
      await unlink(this.path).catch(() => {})
    }
    throw new SwarmpadError('STORAGE_LOCKED', `could not lock ${this.path}: another process keeps creating it`)
  }

  async close(): Promise<void> {
    if (!this.held) return
    this.held = false
    const pid = await readPid(this.path)
    if (pid === process.pid) await unlink(this.path).catch(() => {})
  }
}

export async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/// A storage error naming the path and the cause in words.
export function storageError(path: string, err: unknown): SwarmpadError {
  const code = (err as NodeJS.ErrnoException)?.code
  const cause =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOSPC'
        ? 'the disk is full'
        : code === 'ENOTDIR'
          ? 'a parent is not a directory'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : err instanceof Error
              ? err.message
              : String(err)
  return new SwarmpadError('STORAGE_ACCESS', `cannot use ${path}: ${cause}`, { cause: err })
}
