// Which files are edited live: a folder holding `.swarmpad/files.json` names
// the document of each of its files (written by `swarmpad link`). The
// marker is a folder because that is what Teamtype's plugins look for (the
// Neovim plugin before Neovim 0.10 finds only folders as root markers).
import { constants } from 'node:fs'
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join, relative, sep } from 'node:path'
import b4a from 'b4a'
import { SwarmpadError, errorMessage } from '../errors.js'
import { parseKey } from '../storage/keys.js'

/// The marker folder (the plugins' root marker) and the file in it.
export const MARKER_DIR = '.swarmpad'
export const MARKER_FILE = 'files.json'
const MAX_MARKER_BYTES = 1024 * 1024
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/// What `.swarmpad/files.json` says about one file.
export interface Link {
  /// The document key (z-base-32), as `swarmpad ls` shows it.
  doc: string
  /// Its local name when linked (a hint for people; the key decides).
  name: string
}

/// `{ "version": 1, "files": { "notes.md": { "doc": KEY, "name": "notes" } } }`,
/// paths relative to the folder that holds `.swarmpad/`, with "/".
export interface MarkerFile {
  version: 1
  files: Record<string, Link>
}

/// A file's link and where it was found.
export interface FoundLink {
  /// The folder holding `.swarmpad/`.
  root: string
  /// The file's path relative to it.
  file: string
  link: Link
}

function ownUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null
}

/// The links of the marker in `dir`; null when `dir` has none. A marker that
/// is not a regular file of ours (a link, a FIFO, another user's) or does not
/// parse is an error naming it.
export async function readMarker(dir: string): Promise<MarkerFile | null> {
  const path = join(dir, MARKER_DIR, MARKER_FILE)
  let handle
  try {
    handle = await open(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    if (code === 'ELOOP') throw new SwarmpadError('BAD_ARGUMENT', `${path} is a symbolic link; swarmpad reads only a regular file there`)
    throw new SwarmpadError('BAD_ARGUMENT', `cannot read ${path}: ${errorMessage(err)}`)
  }
  try {
    const info = await handle.stat()
    const uid = ownUid()
    if (!info.isFile()) throw new SwarmpadError('BAD_ARGUMENT', `${path} is not a regular file`)
    if (uid !== null && info.uid !== uid) throw new SwarmpadError('BAD_ARGUMENT', `${path} belongs to uid ${info.uid}, not to you; swarmpad uses only markers you own`)
    if (info.size > MAX_MARKER_BYTES) throw new SwarmpadError('BAD_ARGUMENT', `${path} is larger than ${MAX_MARKER_BYTES} bytes`)
    const text = (await handle.readFile()).toString('utf8')
    return parseMarker(text, path)
  } finally {
    await handle.close()
  }
}

export function parseMarker(text: string, path: string): MarkerFile {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new SwarmpadError('BAD_ARGUMENT', `${path} is not JSON; fix it or link the files again with \`swarmpad link\``)
  }
  const j = json as Partial<MarkerFile> | null
  if (j === null || typeof j !== 'object' || j.version !== 1 || j.files === null || typeof j.files !== 'object' || Array.isArray(j.files)) {
    throw new SwarmpadError('BAD_ARGUMENT', `${path} is not a swarmpad marker (version 1 with "files")`)
  }
  const files: Record<string, Link> = {}
  for (const [file, link] of Object.entries(j.files)) {
    const l = link as Partial<Link> | null
    if (l === null || typeof l !== 'object' || typeof l.doc !== 'string' || typeof l.name !== 'string') {
      throw new SwarmpadError('BAD_ARGUMENT', `${path}: the entry for ${JSON.stringify(file)} needs "doc" and "name"`)
    }
    files[file] = { doc: l.doc, name: l.name }
  }
  return { version: 1, files }
}

/// The marker path key of `file` under `root` ("sub/notes.md").
function keyOf(root: string, file: string): string {
  return relative(root, file).split(sep).join('/')
}

/// The link of the file at `path` (absolute, symbolic links resolved): the
/// nearest folder at or above it whose marker names it. Null when none does.
export async function findLink(path: string): Promise<FoundLink | null> {
  let dir = dirname(path)
  for (;;) {
    const marker = await lstat(join(dir, MARKER_DIR)).catch(() => null)
    if (marker?.isDirectory()) {
      const read = await readMarker(dir)
      const file = keyOf(dir, path)
      const link = read?.files[file]
      if (link !== undefined) return { root: dir, file, link }
    }
    const up = dirname(dir)
    if (up === dir) return null
    dir = up
  }
}

/// Link the file at `path` (absolute, resolved) to a document: add or
/// replace its entry in the marker of its folder, creating the marker.
/// Returns the marker's path.
export async function writeLink(path: string, link: Link): Promise<string> {
  const dir = dirname(path)
  const markerDir = join(dir, MARKER_DIR)
  await mkdir(markerDir, { recursive: true, mode: 0o700 })
  const info = await lstat(markerDir)
  if (!info.isDirectory()) throw new SwarmpadError('BAD_ARGUMENT', `${markerDir} is not a folder`)
  const current = (await readMarker(dir)) ?? { version: 1 as const, files: {} }
  current.files[basename(path)] = link
  const target = join(markerDir, MARKER_FILE)
  const tmp = join(markerDir, `.${MARKER_FILE}.${randomBytes(8).toString('hex')}.tmp`)
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600)
  try {
    await handle.writeFile(JSON.stringify(current, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, target)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  return target
}

/// The library name of the document a link names: by key, or the document
/// that replaced it after a re-key (its `previous` list). Throws, saying why,
/// when this device has no such document.
export function linkedName(entries: ReadonlyArray<{ name: string; key: string; previous?: ReadonlyArray<{ key: string }> }>, link: Link): string {
  const key = parseKey(link.doc)
  if (key === null) throw new SwarmpadError('BAD_ARGUMENT', `the link names ${JSON.stringify(link.doc.slice(0, 80))}, which is not a document key; link the file again with \`swarmpad link\``)
  const hex = b4a.toString(key, 'hex')
  const entry = entries.find((e) => e.key === hex) ?? entries.find((e) => e.previous?.some((p) => p.key === hex))
  if (entry === undefined) {
    throw new SwarmpadError('DOC_NOT_FOUND', `it is linked to the document "${link.name}" (${link.doc.slice(0, 8)}...), which is not in this device's library (see \`swarmpad ls\`)`)
  }
  return entry.name
}
