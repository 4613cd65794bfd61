import Corestore from 'corestore'
import { mkdir } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { Resource } from './resource.js'
import { SwarmpadError } from './errors.js'
import { rootPaths } from './storage/paths.js'
import { PidLock, storageError } from './storage/lock.js'
import { checkDocumentName, Library, type LibraryEntry, type LocalRole } from './storage/library.js'
import { fromHex, toHex } from './storage/keys.js'
import { compactStorage, fileCheckpointStore } from './storage/checkpoints.js'
import { SwarmDocument } from './sync/document.js'

export interface SwarmpadOptions {
  /// The storage root (see resolveHome()).
  home: string
  /// Autobase ack interval for every document (ms); Autobase's default when unset.
  ackInterval?: number
}

/// An open document and its library entry.
export interface OpenDocument {
  entry: LibraryEntry
  doc: SwarmDocument
}

/// One device's swarmpad: the storage root (locked against other processes),
/// its Corestore, the library of documents, and the documents open now.
/// The daemon holds exactly one; the network layer listens to its
/// `document-open` / `document-close` events to join and leave topics.
export class Swarmpad extends Resource {
  readonly paths: ReturnType<typeof rootPaths>
  readonly library: Library
  store!: Corestore
  private readonly lock: PidLock
  private readonly options: SwarmpadOptions
  private readonly openDocs = new Map<string, OpenDocument>()
  private readonly pendingOpens = new Map<string, Promise<OpenDocument>>()

  constructor(options: SwarmpadOptions) {
    super()
    this.options = options
    this.paths = rootPaths(options.home)
    this.library = new Library(this.paths.library)
    this.lock = new PidLock(this.paths.lock)
  }

  protected override async _open(): Promise<void> {
    try {
      await mkdir(this.paths.home, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw storageError(this.paths.home, err)
    }
    await this.lock.acquire()
    this.own(this.lock)
    await this.library.load()
    this.store = new Corestore(this.paths.cores)
    try {
      await this.store.ready()
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      if (/lock/i.test(message)) throw new SwarmpadError('STORAGE_LOCKED', `${this.paths.cores} is in use by another process`)
      throw new SwarmpadError('STORAGE_CORRUPT', `cannot open ${this.paths.cores}: ${message}; restore the storage root from a backup or join the documents again from a peer`, { cause: err })
    }
    this.own(this.store)
  }

  protected override async _close(): Promise<void> {
    const docs = [...this.openDocs.values()].reverse()
    this.openDocs.clear()
    for (const d of docs) {
      await d.doc.close().catch(() => {})
      this.emit('document-close', d)
    }
    if (this.store?.opened) await compactStorage(this.store).catch((err) => this.emit('warning', err))
  }

  /// Documents open right now.
  get documents(): OpenDocument[] {
    return [...this.openDocs.values()]
  }

  /// Create a document with this device as its owner, optionally with a text.
  async create(name: string, opts: { text?: string } = {}): Promise<OpenDocument> {
    const problem = checkDocumentName(name)
    if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${name}": ${problem}`)
    if (this.library.find(name)) throw new SwarmpadError('DOC_EXISTS', `a document named "${name}" already exists; choose another name`)
    const namespace = Library.newNamespace()
    const encryptionKey = randomBytes(32)
    const doc = this.newDocument(namespace, null, encryptionKey)
    await doc.ready()
    const now = Date.now()
    const entry: LibraryEntry = {
      name,
      key: toHex(doc.key),
      namespace,
      encryptionKey: toHex(encryptionKey),
      role: 'owner',
      created: now,
      lastOpened: now
    }
    try {
      if (opts.text !== undefined && opts.text.length > 0) await doc.replaceText(opts.text).durable
      await this.library.add(entry)
    } catch (err) {
      await doc.close().catch(() => {})
      throw err
    }
    const open = { entry, doc }
    this.openDocs.set(entry.key, open)
    this.emit('document-open', open)
    return open
  }

  /// Put a document this device was given (by invite) into the library.
  async addDocument(opts: { name: string; key: Uint8Array; encryptionKey: Uint8Array; role: LocalRole }): Promise<LibraryEntry> {
    const now = Date.now()
    const entry: LibraryEntry = {
      name: opts.name,
      key: toHex(opts.key),
      namespace: Library.newNamespace(),
      encryptionKey: toHex(opts.encryptionKey),
      role: opts.role,
      created: now,
      lastOpened: now
    }
    await this.library.add(entry)
    return entry
  }

  /// Open a document of the library by local name or key (memoised).
  async open(nameOrKey: string): Promise<OpenDocument> {
    const entry = this.library.resolve(nameOrKey)
    const existing = this.openDocs.get(entry.key)
    if (existing) return existing
    let pending = this.pendingOpens.get(entry.key)
    if (!pending) {
      pending = this.openEntry(entry).finally(() => this.pendingOpens.delete(entry.key))
      this.pendingOpens.set(entry.key, pending)
    }
    return pending
  }

  private async openEntry(entry: LibraryEntry): Promise<OpenDocument> {
    if (this.closingOrClosed) throw new SwarmpadError('CLOSED', 'swarmpad is closing')
    const doc = this.newDocument(entry.namespace, fromHex(entry.key), fromHex(entry.encryptionKey))
    await doc.ready()
    const lastOpened = Date.now()
    await this.library.update(entry.name, { lastOpened }).catch(() => {})
    const open = { entry: { ...entry, lastOpened }, doc }
    this.openDocs.set(entry.key, open)
    this.emit('document-open', open)
    return open
  }

  /// Close one open document (it stays in the library).
  async closeDocument(nameOrKey: string): Promise<void> {
    const entry = this.library.resolve(nameOrKey)
    const open = this.openDocs.get(entry.key)
    if (!open) return
    this.openDocs.delete(entry.key)
    await open.doc.close()
    this.emit('document-close', open)
  }

  private newDocument(namespace: string, key: Uint8Array | null, encryptionKey: Uint8Array): SwarmDocument {
    const { ackInterval } = this.options
    const doc = new SwarmDocument(this.store.namespace(namespace), {
      key,
      encryptionKey,
      checkpoint: fileCheckpointStore(this.paths.checkpoints, namespace),
      ...(ackInterval !== undefined ? { ackInterval } : {})
    })
    doc.on('error', (err) => this.emit('document-error', doc, err))
    return doc
  }
}
