import {   readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import b4a from 'b4a'
import { SwarmpadError } from '../errors.js'
import { storageError } from './lock.js'
import { formatKey, parseKey } from './keys.js'
import { parseJsonFile, writeJsonFile } from './json-file.js'

/// How this device holds a document.
export type LocalRole = 'owner' | 'writer' | 'reader'

/// One document this device holds.
export interface LibraryEntry {
  /// The local name, unique on this device.
  name: string
  /// The document key (hex).
  key: string
  /// The Corestore namespace the document's cores live in (hex).
  namespace: string
  /// The key that encrypts the document at rest (hex).
  encryptionKey: string
  role: LocalRole
  /// ms since the epoch.
  created: number
  lastOpened: number
  /// Blocks this device's own log held when last recorded (at open, at
  /// close, and soon after it grows). The log only ever grows: an open that
  /// finds fewer blocks means the storage lost data (see Swarmpad.open).
  localLength?: number
  /// Where the document moved after a re-key, if it did (hex key).
  movedTo?: string
  /// Earlier versions of this document, oldest first: after a re-key the
  /// entry points at the successor and keeps the old one here (its history).
  previous?: PreviousVersion[]
}

/// A document this entry replaced after a re-key (enough to open it again).
export interface PreviousVersion {
  key: string
  namespace: string
  encryptionKey: string
  /// When this device moved on (ms since the epoch).
  movedAt: number
}


const LIBRARY_FILE = { version: 1, field: 'documents' }
const MAX_DOC_NAME = 64

/// Check a local document name; returns the reason it is refused, or null.
export function checkDocumentName(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'a name cannot be empty'
  if (name.length > MAX_DOC_NAME) return `a name has at most ${MAX_DOC_NAME} characters`
  if (/[\u0000-\u001f\u007f/\\]/.test(name)) return 'a name cannot hold control characters or slashes'
  if (name.startsWith('-')) return 'a name cannot start with "-"'
  if (name.trim() !== name) return 'a name cannot start or end with spaces'
  if (parseKey(name) !== null) return 'a name cannot look like a document key'
  return null
}

/// The device's documents: local name -> key, role, keys, dates. Kept in
/// `library.json` (mode 0600: it holds encryption keys), written atomically
/// (temporary file, fsync, rename), never rewritten when it does not parse.
export class Library {
  private entries: LibraryEntry[] = []
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  async load(): Promise<void> {
    let raw: string
    try {
      raw = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.entries = []
        return
      }
      throw storageError(this.path, err)
    }
    this.entries = parseLibrary(raw, this.path)
  }

  /// Write an empty library: a new storage root gets one before anything else.
  async initialize(): Promise<void> {
    await this.save([])
  }

  list(): LibraryEntry[] {
    return this.entries.map((e) => ({ ...e }))
  }

  /// Find a document by local name, or by key (hex or z32).
  find(nameOrKey: string): LibraryEntry | undefined {
    const byName = this.entries.find((e) => e.name === nameOrKey)
    if (byName) return { ...byName }
    const key = parseKey(nameOrKey)
    if (key === null) return undefined
    const hex = b4a.toString(key, 'hex')
    const byKey = this.entries.find((e) => e.key === hex)
    return byKey ? { ...byKey } : undefined
  }

  /// Like find(), but a missing document is an error that lists the known ones.
  resolve(nameOrKey: string): LibraryEntry {
    const entry = this.find(nameOrKey)
    if (entry) return entry
    const names = this.entries.map((e) => e.name)
    const known = names.length === 0 ? 'there are no documents yet (create one with `swarmpad new NAME`)' : `known: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''}`
    throw new SwarmpadError('DOC_NOT_FOUND', `no document named "${nameOrKey}"; ${known} (see \`swarmpad ls\`)`)
  }

  /// A fresh namespace id for a new document's cores.
  static newNamespace(): string {
    return randomBytes(16).toString('hex')
  }

  async add(entry: LibraryEntry): Promise<void> {
    const problem = checkDocumentName(entry.name)
    if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${entry.name}": ${problem}`)
    if (this.entries.some((e) => e.name === entry.name)) {
      throw new SwarmpadError('DOC_EXISTS', `a document named "${entry.name}" already exists; choose another name`)
    }
    const dup = this.entries.find((e) => e.key === entry.key)
    if (dup) throw new SwarmpadError('DOC_EXISTS', `this document is already in the library as "${dup.name}"`)
    await this.save([...this.entries, { ...entry }])
  }

  async update(name: string, patch: Partial<Omit<LibraryEntry, 'key' | 'namespace' | 'encryptionKey'>>): Promise<void> {
    const i = this.entries.findIndex((e) => e.name === name)
    if (i === -1) throw new SwarmpadError('DOC_NOT_FOUND', `no document named "${name}"`)
    if (patch.name !== undefined && patch.name !== name) {
      const problem = checkDocumentName(patch.name)
      if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${patch.name}": ${problem}`)
      if (this.entries.some((e) => e.name === patch.name)) throw new SwarmpadError('DOC_EXISTS', `a document named "${patch.name}" already exists`)
    }
    const next = this.entries.slice()
    next[i] = { ...next[i]!, ...patch }
    await this.save(next)
  }

  /// Replace the entry named `name` with `entry` (which may have another
  /// key, namespace and name) in one atomic write: a re-key moves a name to
  /// the successor document.
  async replace(name: string, entry: LibraryEntry): Promise<void> {
    const i = this.entries.findIndex((e) => e.name === name)
    if (i === -1) throw new SwarmpadError('DOC_NOT_FOUND', `no document named "${name}"`)
    const problem = checkDocumentName(entry.name)
    if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${entry.name}": ${problem}`)
    if (this.entries.some((e, j) => j !== i && (e.name === entry.name || e.key === entry.key))) {
      throw new SwarmpadError('DOC_EXISTS', `another entry already has the name "${entry.name}" or this key`)
    }
    const next = this.entries.slice()
    next[i] = { ...entry }
    await this.save(next)
  }

  async remove(name: string): Promise<void> {
    await this.save(this.entries.filter((e) => e.name !== name))
  }

  private async save(entries: LibraryEntry[]): Promise<void> {
    const write = this.writing.then(() => writeJsonFile(this.path, LIBRARY_FILE, entries))
    this.writing = write.catch(() => {})
    await write
    this.entries = entries
  }
}

function parseLibrary(raw: string, path: string): LibraryEntry[] {
  const corrupt = (why: string) =>
    new SwarmpadError('LIBRARY_CORRUPT', `${path} is damaged (${why}); it was left untouched: restore it from a backup or move it away to start an empty library`)
  const read = parseJsonFile(raw, LIBRARY_FILE)
  if (read.state === 'damaged') {
    if (read.newer !== undefined) throw new SwarmpadError('LIBRARY_CORRUPT', `${path} was written by a newer swarmpad (library version ${read.newer}); upgrade swarmpad`)
    throw corrupt(read.why)
  }
  const file = { documents: read.records }
  const hex32 = /^[0-9a-f]{64}$/
  for (const e of file.documents as unknown[]) {
    const x = e as Partial<LibraryEntry>
    if (
      typeof x !== 'object' || x === null ||
      typeof x.name !== 'string' ||
      typeof x.key !== 'string' || !hex32.test(x.key) ||
      typeof x.namespace !== 'string' || !/^[0-9a-f]{32}$/.test(x.namespace) ||
      typeof x.encryptionKey !== 'string' || !hex32.test(x.encryptionKey) ||
      (x.role !== 'owner' && x.role !== 'writer' && x.role !== 'reader') ||
      typeof x.created !== 'number' || typeof x.lastOpened !== 'number'
    ) {
      throw corrupt('an entry is malformed')
    }
  }
  return file.documents as LibraryEntry[]
}

export { writeAtomically } from './files.js'
export { formatKey }
