import { readFileSync } from 'node:fs'
import { open, readFile, unlink } from 'node:fs/promises'
import { SwarmpadError } from '../errors.js'

/// True when a process with this pid exists (ours or another user's) and
/// could be a swarmpad: where /proc shows its command line, it must be a
/// Node.js process (after a reboot the pid of a pid file often belongs to
/// something else, which must not lock the storage root for ever).
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  let cmdline: string
  try {
    // A zombie (exited, not yet reaped: in a container whose pid 1 does not
    // reap, a killed daemon stays one) answers signals but is gone.
    if (isZombie(readFileSync(`/proc/${pid}/stat`, 'latin1'))) return false
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1')
  } catch {
    return true // no /proc (or not readable): trust the signal check
  }
  return /node|swarmpad/i.test(cmdline)
}

/// The state letter of /proc/PID/stat follows the command name in parentheses
/// (which may itself hold spaces and parentheses).
function isZombie(stat: string): boolean {
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state === 'Z' || state === 'X'
}

/// Lock files held by this process (a pid file with our own pid is ours
/// only if it is in here; otherwise it is left by an earlier process that had
/// the same pid, and stale).
const heldHere = new Set<string>()

/// An exclusive claim on a storage root: a file holding the owner's pid,
/// created with O_EXCL. A file left by a process that no longer runs is
/// stale and replaced. Released by close().
export class PidLock {
  private held = false

  constructor(readonly path: string) {}

  async acquire(): Promise<void> {
    const inUse = (pid: number, who: string) =>
      new SwarmpadError(
        'STORAGE_LOCKED',
        `${this.path.replace(/\/[^/]*$/, '')} is in use by pid ${pid} (${who}); stop it with \`swarmpad stop\` or use another --home`
      )
    // Another Swarmpad of this very process holds it: its pid file names
    // us, which would otherwise look stale (and be deleted under it).
    if (heldHere.has(this.path)) throw inUse(process.pid, 'this process')
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.path, 'wx', 0o600)
        // Ours from this moment: another acquire in this process must not
        // take the still empty file for a stale one.
        this.held = true
        heldHere.add(this.path)
        try {
          await fh.writeFile(`${process.pid}\n`)
          await fh.sync()
        } finally {
          await fh.close()
        }
        return
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'EEXIST') throw storageError(this.path, err)
      }
      let pid = await readPid(this.path)
      if (pid === null) {
        // Perhaps its creator (another process, or another lock of this one
        // whose open() has not called back yet) is about to write its pid.
        await new Promise((r) => setTimeout(r, 200))
        pid = await readPid(this.path)
      }
      // Checked after reading: a lock of this process marks itself held
      // before it writes the pid we may have just read.
      if (heldHere.has(this.path)) throw inUse(process.pid, 'this process')
      if (pid !== null && pid !== process.pid && processAlive(pid)) throw inUse(pid, 'another swarmpad')
      // Stale: its process is gone (or the file is unreadable garbage).
      await unlink(this.path).catch(() => {})
    }
    throw new SwarmpadError('STORAGE_LOCKED', `could not lock ${this.path}: another process keeps creating it`)
  }

  async close(): Promise<void> {
    if (!this.held) return
    this.held = false
    heldHere.delete(this.path)
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
