import { join } from 'node:path'
import Corestore from 'corestore'
import hypercoreCrypto from 'hypercore-crypto'
import { access } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { Resource } from './resource.js'
import { SwarmpadError } from './errors.js'
import { rootPaths } from './storage/paths.js'
import { PidLock } from './storage/lock.js'
import { prepareRoot, privatizeTree } from './storage/perms.js'
import { checkDocumentName, Library, type LibraryEntry, type LocalRole } from './storage/library.js'
import { fromHex, toHex } from './storage/keys.js'
import { compactStorage, fileCheckpointStore } from './storage/checkpoints.js'
import { LogSync, syncFile } from './storage/log-sync.js'
import { documentStorageError, openCorestore } from './storage/cores.js'
import { assertNotMoved } from './storage/recover.js'
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

/// A library document whose open has started (`document-opening`) and then
/// failed (`document-open-failed`) or succeeded (`document-open`).
export interface OpeningDocument {
  entry: LibraryEntry
  discoveryKey: Buffer
}

/// What runs beside each open document (the network topic, the page's
/// authority, the re-key watcher): told in one fixed order, the order the
/// services were attached, when a document starts opening, failed to open
/// or opened, and in the reverse order once it closed. Hooks must not throw
/// (a service reports its own errors).
export interface DocumentService {
  /// Opening started; the document may need peers to finish (a sparse view).
  opening?(doc: OpeningDocument): void
  openFailed?(doc: OpeningDocument): void
  opened?(open: OpenDocument): void
  /// The document closed (also when its name moved to a re-key's successor:
  /// by then the library points at the successor).
  closed?(open: OpenDocument): void
}

/// One device's swarmpad: the storage root (locked against other processes),
/// its Corestore, the library of documents, and the documents open now.
/// The daemon holds exactly one; the services beside each document attach
/// with `attach()` (see DocumentService). The same moments are also emitted
/// as events (`document-opening`, `document-open`, `document-open-failed`,
/// `document-close`) for tests and tools.
/// The events of a Swarmpad (typed).
export interface SwarmpadEvents {
  /// An open document reported an error (also in the daemon's log).
  'document-error': [doc: SwarmDocument, err: unknown]
  warning: [err: unknown]
  /// The DocumentService moments, as events too (after every service was told).
  'document-opening': [doc: OpeningDocument]
  'document-open-failed': [doc: OpeningDocument]
  'document-open': [doc: OpenDocument]
  'document-close': [doc: OpenDocument]
  close: []
}

export class Swarmpad extends Resource<SwarmpadEvents> {
  readonly paths: ReturnType<typeof rootPaths>
  readonly library: Library
  store!: Corestore
  /// Syncs the store's write-ahead log before an edit is acknowledged.
  private logSync: LogSync | null = null
  private readonly lock: PidLock
  private readonly options: SwarmpadOptions
  private readonly openDocs = new Map<string, OpenDocument>()
  private readonly pendingOpens = new Map<string, Promise<OpenDocument>>()
  /// Entries (by key) whose name is being pointed at another document.
  private readonly moves = new Map<string, Promise<void>>()
  private readonly services: DocumentService[] = []

  constructor(options: SwarmpadOptions) {
    super()
    this.options = options
    this.paths = rootPaths(options.home)
    this.library = new Library(this.paths.library)
    this.lock = new PidLock(this.paths.lock)
  }

  protected override async _open(): Promise<void> {
    // Made 0700, or refused when it is another user's (src/storage/perms.ts).
    await prepareRoot(this.paths.home)
    await this.lock.acquire()
    this.own(this.lock)
    await privatizeTree(this.paths.home)
    const hadCores = await exists(this.paths.cores)
    const hadLibrary = await exists(this.paths.library)
    await this.library.load()
    if (!hadLibrary) {
      // The library holds every document's keys: without it, the cores are
      // unreadable. A root gets its (empty) library before its cores, so
      // cores without a library mean the library was lost: say so rather
      // than open as a root with no documents.
      if (hadCores) {
        throw new SwarmpadError(
          'LIBRARY_CORRUPT',
          `${this.paths.library} is missing, but ${this.paths.cores} holds document data: restore library.json from a backup (it holds the documents' keys); to start an empty library instead, move ${this.paths.cores} away first`
        )
      }
      await this.library.initialize()
    }
    // A copied or restored root opens none of its logs: `swarmpad recover` (src/storage/recover.ts).
    await assertNotMoved(this.paths.home, this.paths.cores)
    this.store = openCorestore(this.paths.cores)
    try {
      await this.store.ready()
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      // (Not /lock/: RocksDB reports a damaged table as "block checksum mismatch".)
      if (/could not be locked|\block(ed)?\b/i.test(message)) throw new SwarmpadError('STORAGE_LOCKED', `${this.paths.cores} is in use by another process`)
      throw new SwarmpadError('STORAGE_CORRUPT', `cannot open ${this.paths.cores}: ${message}; restore the storage root from a backup or join the documents again from a peer`, { cause: err })
    }
    this.logSync = new LogSync(this.store)
    // The device file is written without a sync; a power cut must not leave it empty.
    await syncFile(join(this.paths.cores, 'CORESTORE')).catch((err) => this.emit('warning', err))
    this.own(this.store)
  }

  /// Attach a service to every document from now on (and to those open
  /// now, as `opened`). Returns the detach.
  attach(service: DocumentService): () => void {
    this.services.push(service)
    for (const open of this.openDocs.values()) service.opened?.(open)
    return () => {
      const i = this.services.indexOf(service)
      if (i !== -1) this.services.splice(i, 1)
    }
  }

  private tell(moment: 'opening' | 'openFailed', doc: OpeningDocument): void
  private tell(moment: 'opened' | 'closed', doc: OpenDocument): void
  private tell(moment: keyof DocumentService, doc: OpeningDocument | OpenDocument): void {
    const order = moment === 'closed' ? [...this.services].reverse() : [...this.services]
    for (const s of order) {
      try {
        ;(s[moment] as ((d: OpeningDocument | OpenDocument) => void) | undefined)?.call(s, doc)
      } catch (err) {
        this.emit('warning', err)
      }
    }
    if (moment === 'opening' || moment === 'openFailed') this.emit(moment === 'opening' ? 'document-opening' : 'document-open-failed', doc as OpeningDocument)
    else this.emit(moment === 'opened' ? 'document-open' : 'document-close', doc as OpenDocument)
  }

  protected override async _close(): Promise<void> {
    const docs = [...this.openDocs.values()].reverse()
    this.openDocs.clear()
    for (const d of docs) {
      await d.doc.close().catch(() => {})
      await this.recordLength(d.entry.key, d.doc).catch(() => {})
      this.tell('closed', d)
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
      entry.localLength = doc.autobase.local.length
      await this.library.add(entry)
    } catch (err) {
      await doc.close().catch(() => {})
      throw err
    }
    const open = { entry, doc }
    this.openDocs.set(entry.key, open)
    this.trackLength(entry.key, doc)
    this.tell('opened', open)
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
    let entry = this.library.resolve(nameOrKey)
    // A name being moved to a successor opens the successor, not the old one again.
    for (let move = this.moves.get(entry.key); move !== undefined; move = this.moves.get(entry.key)) {
      await move
      entry = this.library.resolve(nameOrKey)
    }
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
    const key = fromHex(entry.key)
    const doc = this.newDocument(entry.namespace, key, fromHex(entry.encryptionKey))
    // Opening can need blocks from peers (a view left sparse by a
    // fast-forward): the network looks for them from now on, not only once
    // the document is open.
    const opening: OpeningDocument = { entry, discoveryKey: hypercoreCrypto.discoveryKey(key) }
    this.tell('opening', opening)
    try {
      await doc.ready()
    } catch (err) {
      this.tell('openFailed', opening)
      throw documentStorageError(err, this.paths.cores, entry.name)
    }
    // This device's log never shrinks: fewer blocks than the library last
    // recorded means the storage lost data (a damaged or rolled-back RocksDB
    // opens without error, as an older or empty document).
    const have = doc.autobase.local.length
    if (entry.localLength !== undefined && have < entry.localLength) {
      this.tell('openFailed', opening)
      await doc.close().catch(() => {})
      throw new SwarmpadError(
        'STORAGE_CORRUPT',
        `${this.paths.cores} holds ${have} of the ${entry.localLength} blocks this device wrote to "${entry.name}": the storage lost data; restore the storage root from a backup or join the document again from a peer`
      )
    }
    const lastOpened = Date.now()
    const localLength = Math.max(have, entry.localLength ?? 0)
    // Bookkeeping (the check above already ran): not worth an fsync'd wait.
    this.library.update(entry.name, { lastOpened, localLength }).catch((err) => this.emit('warning', err))
    const open = { entry: { ...entry, lastOpened, localLength }, doc }
    this.openDocs.set(entry.key, open)
    this.trackLength(entry.key, doc)
    this.tell('opened', open)
    return open
  }

  /// Close one open document (it stays in the library).
  async closeDocument(nameOrKey: string): Promise<void> {
    const entry = this.library.resolve(nameOrKey)
    const open = this.openDocs.get(entry.key)
    if (!open) return
    this.openDocs.delete(entry.key)
    await open.doc.close()
    await this.recordLength(entry.key, open.doc).catch(() => {})
    this.tell('closed', open)
  }

  /// Point a library name at another document (a re-key's successor):
  /// close the open document, replace the entry, and only then announce the
  /// close, so whoever reopens the name on `document-close` (a page) gets the
  /// successor. Opens of the name meanwhile wait for the move.
  async moveDocument(name: string, next: LibraryEntry): Promise<void> {
    const entry = this.library.resolve(name)
    if (this.moves.has(entry.key)) throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" is being moved already`)
    let open: OpenDocument | undefined
    const move = (async () => {
      await this.pendingOpens.get(entry.key)?.catch(() => {})
      open = this.openDocs.get(entry.key)
      if (open) {
        this.openDocs.delete(entry.key)
        await open.doc.close()
        await this.recordLength(entry.key, open.doc).catch(() => {})
      }
      await this.library.replace(entry.name, next)
    })()
    this.moves.set(entry.key, move.catch(() => {}))
    try {
      await move
    } finally {
      this.moves.delete(entry.key)
      if (open) this.tell('closed', open)
    }
  }

  /// Keep the library's record of this device's log length (see openEntry)
  /// close behind: soon after the log first grows, then at most every
  /// RECORD_LENGTH_MS, and at close.
  private trackLength(key: string, doc: SwarmDocument): void {
    const local = doc.autobase.local
    let last = 0
    let timer: NodeJS.Timeout | null = null
    const record = () => {
      timer = null
      last = Date.now()
      if (!doc.closingOrClosed) void this.recordLength(key, doc).catch(() => {})
    }
    const onAppend = () => {
      if (timer !== null || doc.closingOrClosed) return
      timer = setTimeout(record, last === 0 ? 0 : Math.max(0, last + RECORD_LENGTH_MS - Date.now()))
      timer.unref()
    }
    local.on('append', onAppend)
    doc.once('close', () => {
      local.off('append', onAppend)
      if (timer !== null) clearTimeout(timer)
    })
  }

  private async recordLength(key: string, doc: SwarmDocument): Promise<void> {
    const entry = this.library.find(key)
    const length = doc.autobase.local.length
    if (entry === undefined || length <= (entry.localLength ?? 0)) return
    // Only a length whose blocks are durable: after a power cut the log
    // must hold at least what the library says.
    if (!doc.closingOrClosed) await this.logSync?.sync()
    await this.library.update(entry.name, { localLength: length })
  }

  private newDocument(namespace: string, key: Uint8Array | null, encryptionKey: Uint8Array): SwarmDocument {
    const { ackInterval } = this.options
    const doc = new SwarmDocument(this.store.namespace(namespace), {
      key,
      encryptionKey,
      checkpoint: fileCheckpointStore(this.paths.checkpoints, namespace),
      syncLog: () => this.logSync!.sync(),
      ...(ackInterval !== undefined ? { ackInterval } : {})
    })
    doc.on('error', (err) => this.emit('document-error', doc, err))
    return doc
  }
}

/// How often, at most, the library records a document's local log length.
const RECORD_LENGTH_MS = 10_000

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
