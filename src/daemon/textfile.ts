import { constants, type Stats } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { isUtf8 } from 'node:buffer'
import { SwarmpadError } from '../errors.js'

/// Largest file swarmpad reads into a document (`new --from`, `write`,
/// `sync`, `edit`): 16 MiB. Larger texts still work in the engine, but a
/// whole-file diff of them takes seconds and usually means the wrong file.
export const MAX_FILE_BYTES = 16 * 1024 * 1024

/// Read a file of UTF-8 text, or throw BAD_ARGUMENT naming the path and the
/// rule it breaks: missing, not a regular file, over MAX_FILE_BYTES, not UTF-8.
///
/// The file is opened with O_NONBLOCK and its type is checked on the opened
/// descriptor (fstat) before anything is read, so a FIFO or a device is
/// refused at once instead of blocking (a blocked open holds one of libuv's
/// four threads for ever). A symbolic link is followed: the command-line
/// inputs (`new --from FILE`, `write NAME FILE`) read the file the user
/// named, as any command does; file mirrors use readSyncedFile()
/// (safe-file.ts), which never follows one.
export async function readTextFile(path: string, maxBytes = MAX_FILE_BYTES): Promise<string> {
  return (await readTextFileChecked(path, { maxBytes })).text
}

export interface ReadTextOptions {
  maxBytes?: number
  /// Follow a symbolic link at `path` (default true); false opens with
  /// O_NOFOLLOW and refuses one.
  follow?: boolean
  /// More rules for the opened file (its fstat), checked before reading;
  /// throws to refuse it.
  check?: (info: Stats) => void
}

/// readTextFile(), and the fstat of the descriptor that was read.
export async function readTextFileChecked(path: string, opts: ReadTextOptions = {}): Promise<{ text: string; info: Stats }> {
  const maxBytes = opts.maxBytes ?? MAX_FILE_BYTES
  const follow = opts.follow ?? true
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (follow ? 0 : (constants.O_NOFOLLOW ?? 0)))
  } catch (err) {
    if (!follow && (err as NodeJS.ErrnoException)?.code === 'ELOOP') {
      throw new SwarmpadError('BAD_ARGUMENT', `${path} is a symbolic link; swarmpad syncs regular files only and never follows symbolic links there`)
    }
    throw fileError(path, err)
  }
  try {
    const info = await fh.stat()
    if (info.isDirectory()) throw new SwarmpadError('BAD_ARGUMENT', `${path} is a directory; give a text file`)
    if (!info.isFile()) throw new SwarmpadError('BAD_ARGUMENT', `${path} is ${otherKind(info)}, not a regular file; give a text file`)
    opts.check?.(info)
    if (info.size > maxBytes) throw tooLarge(path, info.size, maxBytes)
    const buf = await fh.readFile()
    if (buf.length > maxBytes) throw tooLarge(path, buf.length, maxBytes)
    return { text: decodeText(buf, path), info }
  } finally {
    await fh.close().catch(() => {})
  }
}

function otherKind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO (named pipe)'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  return 'a special file'
}

/// Decode UTF-8 bytes (from a file or stdin named `label`), refusing anything else.
export function decodeText(buf: Buffer, label: string): string {
  if (!isUtf8(buf)) {
    const at = firstInvalidUtf8(buf)
    throw new SwarmpadError('BAD_ARGUMENT', `${label} is not UTF-8 text (invalid byte at offset ${at}); swarmpad documents hold UTF-8 text only`)
  }
  return buf.toString('utf8')
}

export function tooLarge(label: string, size: number, maxBytes = MAX_FILE_BYTES): SwarmpadError {
  return new SwarmpadError('TOO_LARGE', `${label} is ${formatBytes(size)}; the limit is ${formatBytes(maxBytes)} per document text`)
}

/// True when `path` exists and is a directory.
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

export function fileError(path: string, err: unknown): SwarmpadError {
  const code = (err as NodeJS.ErrnoException)?.code
  switch (code) {
    case 'ENOENT':
      return new SwarmpadError('BAD_ARGUMENT', `${path} does not exist; check the path`)
    case 'EISDIR':
      return new SwarmpadError('BAD_ARGUMENT', `${path} is a directory; give a text file`)
    case 'EACCES':
    case 'EPERM':
      return new SwarmpadError('BAD_ARGUMENT', `cannot read ${path}: permission denied`)
    case 'ENOTDIR':
      return new SwarmpadError('BAD_ARGUMENT', `cannot read ${path}: a parent is not a directory`)
    case 'ENXIO':
      return new SwarmpadError('BAD_ARGUMENT', `${path} is a socket or a device, not a regular file; give a text file`)
    default:
      return new SwarmpadError('BAD_ARGUMENT', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB`
  return `${(n / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MiB`
}

/// Offset of the first byte that breaks UTF-8 (for error messages only).
function firstInvalidUtf8(buf: Buffer): number {
  let i = 0
  while (i < buf.length) {
    const b = buf[i]!
    let need: number
    let min: number
    if (b < 0x80) {
      i++
      continue
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1
      min = 0x80
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2
      min = 0x800
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3
      min = 0x10000
    } else return i
    if (i + need >= buf.length) return i
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07)
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k]
      if (c === undefined || (c & 0xc0) !== 0x80) return i
      cp = (cp << 6) | (c & 0x3f)
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i
    i += need + 1
  }
  return buf.length
}
