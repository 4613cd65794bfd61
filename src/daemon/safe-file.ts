// What a file mirror (`swarmpad sync`, `swarmpad edit`) may read and write.
//
// A synced file lives where others may write too (a shared folder, a
// project checkout): whoever can rename in that folder can put a symbolic
// link, a FIFO or a file of theirs in its place. So a mirror only ever uses
// a regular file owned by the daemon's user, never follows a symbolic link
// at the path (O_NOFOLLOW), never blocks on a FIFO or a device (O_NONBLOCK,
// and the type is checked on the opened descriptor), and replaces the file
// through a temporary file with an unpredictable name created exclusively
// (O_CREAT|O_EXCL), so nothing planted in the folder can redirect a write.
import { constants, type Stats } from 'node:fs'
import { lstat, open, rename, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { SwarmpadError, errorMessage } from '../errors.js'
import { readTextFileChecked } from './textfile.js'

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/// The daemon's uid (null where there are none).
export function ownUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null
}

/// What kind of file `info` describes, in words.
export function fileKind(info: Stats): string {
  if (info.isSymbolicLink()) return 'a symbolic link'
  if (info.isFIFO()) return 'a FIFO (named pipe)'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  if (info.isDirectory()) return 'a directory'
  return 'not a regular file'
}

/// Why a mirror must not use the file `info` describes (from lstat or
/// fstat), or null when it may: a regular file owned by the daemon's user.
export function unsafeReason(path: string, info: Stats): string | null {
  if (!info.isFile()) {
    const kind = fileKind(info)
    return `${path} is ${kind}; swarmpad syncs regular files only and never follows symbolic links there`
  }
  const uid = ownUid()
  if (uid !== null && info.uid !== uid) return `${path} belongs to uid ${info.uid}, not to you (uid ${uid}); swarmpad syncs only files you own`
  return null
}

/// A synced path as it is now (lstat: a symbolic link is seen as one).
export type PathState = { kind: 'missing' } | { kind: 'file'; info: Stats } | { kind: 'unsafe'; problem: string }

export async function inspectPath(path: string): Promise<PathState> {
  let info: Stats
  try {
    info = await lstat(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { kind: 'missing' }
    return { kind: 'unsafe', problem: `cannot use ${path}: ${errorMessage(err)}` }
  }
  const problem = unsafeReason(path, info)
  return problem === null ? { kind: 'file', info } : { kind: 'unsafe', problem }
}

/// Read a synced file: never through a symbolic link, never blocking on a
/// FIFO, only a regular file of ours (checked before opening and again on
/// the opened descriptor). Throws BAD_ARGUMENT naming the path and the rule.
export async function readSyncedFile(path: string): Promise<{ text: string; info: Stats }> {
  const state = await inspectPath(path)
  if (state.kind === 'unsafe') throw new SwarmpadError('BAD_ARGUMENT', state.problem)
  return readTextFileChecked(path, {
    follow: false,
    check: (info) => {
      const problem = unsafeReason(path, info)
      if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', problem)
    }
  })
}

/// Which file a path held (device and inode).
export interface FileIdentity {
  dev: number
  ino: number
}

export function identityOf(info: FileIdentity | null): FileIdentity | null {
  return info === null ? null : { dev: info.dev, ino: info.ino }
}

/// A file whose inode changed since `before` is a new file put in place of
/// the old one: an editor's save by rename (a new regular file of ours, one
/// link) is normal; a hard link to some other file put there is refused.
export function checkReplacement(path: string, before: FileIdentity | null, info: Stats): void {
  if (before === null || (before.dev === info.dev && before.ino === info.ino)) return
  if (info.nlink > 1) {
    throw new SwarmpadError('BAD_ARGUMENT', `${path} was replaced by a hard link to another file (${info.nlink} links); swarmpad does not sync it`)
  }
}

/// The temporary file a replacement of `path` is written to first: in the
/// same folder (for an atomic rename), with an unpredictable name.
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.swarmpad-${randomBytes(12).toString('hex')}.tmp`)
}

/// Replace `path` atomically with `text`: a new temporary file, created
/// exclusively (an existing file or symbolic link of that name is never
/// opened), given `mode`, then renamed over `path` (which replaces whatever
/// is at `path` itself, never the target of a link there). `tmp` is for tests.
export async function replaceFile(path: string, text: string, mode: number, tmp = temporaryName(path)): Promise<void> {
  let created = false
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, mode & 0o666)
    created = true
    try {
      // Exactly the mode of the file it replaces, whatever the umask.
      await fh.chmod(mode & 0o777)
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    if (created) await unlink(tmp).catch(() => {})
    throw new SwarmpadError('STORAGE_ACCESS', `cannot write ${path}: ${errorMessage(err)}`)
  }
}
