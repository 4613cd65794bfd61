// The storage root is this user's alone: it holds the Corestore's primary
// key, every document's encryption key and the daemon's token. It is made
// 0700 at every start (mkdir's mode does not change an existing folder),
// refused when it belongs to another user, and what is in it is made 0600
// (folders 0700); the daemon runs under a 077 umask so that what RocksDB and
// the rest create later is private too.
import { constants, readFileSync, type Stats } from 'node:fs'
import { mkdir, open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { SwarmpadError } from '../errors.js'
import { storageError } from './lock.js'

/// The umask the process had before restrictUmask() (what new files the
/// user asked for, such as a synced file, are created with); null: unchanged.
let userMask: number | null = null

/// Create files private to this user from now on (the daemon process). Where
/// the umask cannot be set (a worker thread), nothing changes.
export function restrictUmask(): void {
  try {
    const previous = process.umask(0o077)
    if (userMask === null) userMask = previous
  } catch {}
}

/// The mode a new file the user asked for gets: 0666 less the user's umask.
export function userFileMode(): number {
  if (userMask !== null) return 0o666 & ~userMask
  try {
    const mask = process.umask(0o022)
    process.umask(mask)
    return 0o666 & ~mask
  } catch {
    return 0o644
  }
}

/// Create the storage root or check an existing one: it must be a directory
/// owned by this user (else STORAGE_ACCESS naming the path and the owner);
/// its mode becomes 0700.
export async function prepareRoot(home: string): Promise<void> {
  try {
    await mkdir(home, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw storageError(home, err)
  }
  let info: Stats
  try {
    info = await stat(home)
  } catch (err) {
    throw storageError(home, err)
  }
  if (!info.isDirectory()) throw new SwarmpadError('STORAGE_ACCESS', `cannot use ${home}: it is not a directory`)
  const uid = typeof process.getuid === 'function' ? process.getuid() : null
  if (uid !== null && info.uid !== uid) {
    throw new SwarmpadError(
      'STORAGE_ACCESS',
      `refusing to use ${home}: it belongs to ${userName(info.uid)}, not to you (uid ${uid}); a storage root holds your keys and must be your own: use another --home (or \`chown\` it to yourself)`
    )
  }
  if ((info.mode & 0o077) !== 0) {
    // Through a descriptor of the directory just checked (not the path again).
    const fh = await open(home, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0)).catch((err: unknown) => {
      throw storageError(home, err)
    })
    try {
      const now = await fh.stat()
      if (now.ino !== info.ino || now.dev !== info.dev) throw new SwarmpadError('STORAGE_ACCESS', `cannot use ${home}: it was replaced while swarmpad opened it`)
      await fh.chmod(now.mode & 0o700)
    } catch (err) {
      throw err instanceof SwarmpadError ? err : storageError(home, err)
    } finally {
      await fh.close().catch(() => {})
    }
  }
}

/// Entries looked at under a storage root by privatizeTree(): a root holds
/// a few dozen (the Corestore's RocksDB files, the JSON files, the logs).
const MAX_ENTRIES = 20_000
const MAX_DEPTH = 8

/// Take the group and other bits off every file and folder of ours under
/// `root` (a root left by an older swarmpad had 0755 folders and 0644
/// files). Symbolic links are neither followed nor changed; at most
/// MAX_ENTRIES entries, MAX_DEPTH levels. Returns how many were changed.
export async function privatizeTree(root: string): Promise<number> {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null
  let seen = 0
  let changed = 0
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (++seen > MAX_ENTRIES) return
      if (!e.isFile() && !e.isDirectory()) continue // symbolic links, sockets, FIFOs
      const path = join(dir, e.name)
      if (await privatize(path, uid)) changed++
      if (e.isDirectory() && depth < MAX_DEPTH) await walk(path, depth + 1)
    }
  }
  await walk(root, 1)
  return changed
}

/// chmod go-rwx one file or folder, through a descriptor opened without
/// following a symbolic link (and without blocking, should it be a FIFO).
async function privatize(path: string, uid: number | null): Promise<boolean> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOFOLLOW ?? 0))
  } catch {
    return false
  }
  try {
    const info = await fh.stat()
    if (!info.isFile() && !info.isDirectory()) return false
    if (uid !== null && info.uid !== uid) return false
    if ((info.mode & 0o077) === 0) return false
    await fh.chmod(info.mode & 0o700)
    return true
  } catch {
    return false
  } finally {
    await fh.close().catch(() => {})
  }
}

/// "uid N (name)" from /etc/passwd where it is there, else "uid N".
function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':')
      if (name && id !== undefined && Number(id) === uid) return `uid ${uid} (${name})`
    }
  } catch {}
  return `uid ${uid}`
}
