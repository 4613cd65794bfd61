import { randomBytes } from 'node:crypto'
import { memberColor, memberName } from '../values.js'
import { join } from 'node:path'
import type { WebSocket, RawData } from 'ws'
import { ChangeSet } from '@codemirror/state'
import b4a from 'b4a'
import type { OpenDocument, Swarmpad } from '../swarmpad.js'
import type { DocumentChange, SwarmDocument } from '../sync/document.js'
import type { Member } from '../doc/membership.js'
import { distinctLabels, shownColor } from '../doc/member-view.js'
import { errorMessage, SwarmpadError, type ErrorCode } from '../errors.js'
import { EditJournal } from './journal.js'
import { DocumentHistory } from './history.js'
import { noPeers, type PeerSource, type SyncStatus } from './peers.js'
import {
  BYTES_BURST,
  BYTES_PER_SECOND,
  changeSetFromJSON,
  CLOSE_GOING_AWAY,
  CLOSE_INVALID,
  CLOSE_POLICY,
  insertedLength,
  isMarkdownName,
  MAX_BUFFERED_BYTES,
  MAX_QUEUE,
  MAX_UPDATE_INSERT,
  MESSAGE_BURST,
  MESSAGES_PER_SECOND,
  parseClientMessage,
  PAUSE_QUEUE,
  type ClientMessage,
  type DocRole,
  type InviteInfo,
  type InviteKind,
  type MemberInfo,
  type PresencePeer,
  type RemoveInfo,
  type ServerMessage,
  type WelcomeMessage
} from './protocol.js'

/// The authority keeps at least this many recent updates (so a tab that
/// reconnects after a short break gets only what it missed) ...
const KEEP_ENTRIES = 2000
/// ... and trims down to KEEP_ENTRIES once it holds this many, unless a
/// connected tab still needs them.
const TRIM_AT = 4000
/// A connected tab this far behind is reset instead of holding memory.
const MAX_LAG = 50_000

/// How long a rejoin in `reset` mode waits for the tab's accepted updates to
/// become durable before answering anyway.
const DURABLE_WAIT_MS = 10_000

/// Coalescing of presence, member and status broadcasts.
const PRESENCE_DELAY_MS = 20
const STATUS_DELAY_MS = 50

/// Tabs whose last seq an authority remembers in memory (older ones are in
/// the journal; a tab that comes back after that many others starts over).
const MAX_CLIENTS = 10_000

/// Update messages are split at about this many bytes of JSON.
const UPDATES_CHUNK_BYTES = 1024 * 1024

/// clientIDs of updates that no tab made: a remote peer's, or this device's
/// own made outside the page (restore, file sync). Tab IDs never contain "~".
const REMOTE_CLIENT = '~remote'
const LOCAL_CLIENT = '~local'

/// What the page's share dialog needs (made from src/pairing's Invites by
/// invitesFrom()); without it the page shows "not available".
export interface InviteProvider {
  create(doc: SwarmDocument, kind: InviteKind): Promise<InviteInfo & { code: string }>
  list(doc: SwarmDocument): Promise<InviteInfo[]>
  cancel(doc: SwarmDocument, id: string): Promise<void>
}

/// What the page uses beyond the document, as typed capabilities; the daemon
/// builds them from src/net and src/pairing (src/daemon/page-services.ts).
export interface CollabHubOptions {
  /// Presence and sync status; none: offline.
  peers?: PeerSource
  /// The share dialog; none: the page says invites are not available.
  invites?: InviteProvider | null
  /// Removing members; none: removal without re-key, on the document itself.
  remover?: MemberRemover
}

/// What the page's members dialog needs to remove someone, with or without a re-key.
export interface MemberRemover {
  remove(doc: SwarmDocument, key: Uint8Array, rekey: boolean): Promise<RemoveInfo>
}

/// Removal without re-key, straight on the document.
export const directRemover: MemberRemover = {
  async remove(doc, key, rekey) {
    if (rekey) throw new SwarmpadError('BAD_ARGUMENT', 're-keying is not available here: remove the member with `swarmpad remove NAME MEMBER --rekey`')
    await doc.removeMember(key)
    return { rekey: null }
  }
}

/// One side of a page connection: a WebSocket, or a test's in-memory pipe.
export interface Transport {
  send(data: string): void
  close(code: number, reason: string): void
  readonly bufferedAmount: number
  pause?(): void
  resume?(): void
}

/// One accepted update in the authority's order.
interface Entry {
  changes: ChangeSet
  clientID: string
  seq: number
  /// Tab updates: true once the block holding them is durable. Others: true.
  durable: boolean
  json?: string
}

/// The page's WebSocket endpoint: one authority per open document, many tabs.
///
/// The daemon registers `server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))`.
/// PROTOCOL.md beside this file describes every message.
export class CollabHub {
  readonly swarmpad: Swarmpad
  readonly peers: PeerSource
  readonly invites: InviteProvider | null
  readonly remover: MemberRemover
  private readonly authorities = new Map<string, DocAuthority>()
  private readonly connections = new Set<Connection>()
  private readonly onOpen = (open: OpenDocument) => this.attach(open)
  private readonly onClose = (open: OpenDocument) => this.detach(open.entry.key)
  closed = false

  constructor(swarmpad: Swarmpad, options: CollabHubOptions = {}) {
    this.swarmpad = swarmpad
    this.peers = options.peers ?? noPeers
    this.invites = options.invites ?? null
    this.remover = options.remover ?? directRemover
    swarmpad.on('document-open', this.onOpen)
    swarmpad.on('document-close', this.onClose)
    for (const open of swarmpad.documents) this.attach(open)
  }

  /// Serve one WebSocket of the page (already authenticated by LocalServer).
  handleSocket(ws: WebSocket, _url: URL): void {
    const conn = this.connect({
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount
      },
      pause: () => ws.pause(),
      resume: () => ws.resume()
    })
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return conn.receive(null)
      conn.receive(rawToString(data))
    })
    ws.on('close', () => conn.dispose())
    ws.on('error', () => conn.dispose())
  }

  /// A connection over any transport; feed it frames with receive().
  connect(transport: Transport): Connection {
    const conn = new Connection(this, transport)
    if (this.closed) {
      transport.close(CLOSE_GOING_AWAY, 'swarmpad is stopping')
      return conn
    }
    this.connections.add(conn)
    return conn
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.swarmpad.off('document-open', this.onOpen)
    this.swarmpad.off('document-close', this.onClose)
    for (const c of [...this.connections]) c.shutdown(CLOSE_GOING_AWAY, 'swarmpad is stopping')
    for (const a of this.authorities.values()) a.dispose()
    this.authorities.clear()
  }

  /// The authority of an open document (created when it opened).
  authority(open: OpenDocument): DocAuthority {
    return this.attach(open)
  }

  /// The authority of a document by key, if it is open.
  authorityOf(key: string): DocAuthority | undefined {
    return this.authorities.get(key)
  }

  forget(conn: Connection): void {
    this.connections.delete(conn)
  }

  broadcastDocuments(): void {
    const msg: ServerMessage = { type: 'documents', documents: this.documentList() }
    for (const c of this.connections) c.send(msg)
  }

  documentList(): Array<{ name: string; key: string; role: DocRole; open: boolean }> {
    const open = new Set(this.swarmpad.documents.map((d) => d.entry.key))
    return this.swarmpad.library
      .list()
      .map((e) => ({ name: e.name, key: e.key, role: e.role, open: open.has(e.key) }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  private attach(open: OpenDocument): DocAuthority {
    let a = this.authorities.get(open.entry.key)
    if (a !== undefined && a.doc === open.doc && !a.disposed) return a
    a?.dispose()
    a = new DocAuthority(this, open)
    this.authorities.set(open.entry.key, a)
    this.broadcastDocuments()
    return a
  }

  private detach(key: string): void {
    const a = this.authorities.get(key)
    if (a === undefined) return
    this.authorities.delete(key)
    a.dispose()
    this.broadcastDocuments()
  }
}

/// The collab authority of one document on this device.
///
/// Versions are the authority's own: every accepted update, whoever made it
/// (a tab, a remote peer, a restore), is one entry and one version, so the
/// page's @codemirror/collab state counts the same. A tab's push is accepted
/// only when it is based on the current version (the CodeMirror reference
/// authority's rule), or when all it lacks are its own accepted updates, which
/// the push repeats first; a tab that is behind gets `accepted: false`, catches
/// up with the updates it receives (receiveUpdates rebases its unconfirmed
/// changes) and pushes again. The authority never rebases a push itself:
/// ChangeSet mapping is not compositional at insertion ties (mapping over a
/// composed delete+insert orders two inserts at one point differently than
/// mapping over its parts), so a server-side rebase over a different
/// grouping of updates than the tab's can make the tab and the document
/// differ. Updates are deduplicated on (clientID, seq). A tab's own update
/// goes back to it, confirming it, only once its block is durable; later
/// updates wait behind it for that tab (others get it at once).
export class DocAuthority {
  readonly hub: CollabHub
  readonly open: OpenDocument
  readonly doc: SwarmDocument
  readonly key: string
  /// Changes after every restart (and reopen): tabs of another epoch start over.
  readonly epoch = randomBytes(9).toString('base64url')
  readonly journal: EditJournal
  private entries: Entry[] = []
  private first = 0
  readonly tabs = new Set<Tab>()
  /// Highest seq accepted per clientID, and the durability of its newest update.
  private readonly lastSeq = new Map<string, number>()
  /// Seqs per clientID that must never be applied (again): those an earlier
  /// run saw, and those a tab used before a reset join (it renumbers what it
  /// resends). Kept apart from lastSeq, which says what was *applied*.
  private readonly refuseThrough = new Map<string, number>()
  private readonly lastDurable = new Map<string, Promise<void>>()
  /// Set while this authority edits the document for a tab.
  private attributing: { clientID: string; seq: number } | null = null
  private lastEntry: Entry | null = null
  private history: DocumentHistory | null = null
  private members: Member[] = []
  private membersLoaded: Promise<void> | null = null
  private deliverScheduled = false
  private presenceTimer: NodeJS.Timeout | null = null
  private statusTimer: NodeJS.Timeout | null = null
  private lastStatusJSON = ''
  private lastMembersJSON = ''
  private nonDurable = 0
  /// The tab whose cursor is this device's cursor on the network.
  private cursorTab: Tab | null = null
  private readonly unwatch: () => void
  private readonly onChange = (c: DocumentChange) => this.changed(c)
  private readonly onMembers = () => void this.refreshMembers()
  /// The device became a writer (an owner added it after the tab joined,
  /// or it followed a re-key) or stopped being one (removed).
  private readonly onAccess = () => {
    for (const t of this.tabs) if (t.ready) t.conn.send({ type: 'access', doc: t.ref, writable: this.doc.writable })
    this.broadcastMembers()
  }
  private readonly onInterrupt = (reason: string) => {
    for (const t of this.tabs) t.conn.send({ type: 'error', doc: t.ref, code: 'UPGRADE_REQUIRED', message: reason })
    this.scheduleStatus()
  }
  disposed = false

  constructor(hub: CollabHub, open: OpenDocument) {
    this.hub = hub
    this.open = open
    this.doc = open.doc
    this.key = open.entry.key
    this.journal = new EditJournal(join(hub.swarmpad.paths.home, 'collab', `${this.key}.log`), this.epoch, this.doc.openClock)
    this.journal.onError = (err) => this.doc.emit('warning', err)
    this.journal.open()
    this.doc.on('change', this.onChange)
    this.doc.on('members', this.onMembers)
    this.doc.on('interrupt', this.onInterrupt)
    this.doc.on('writable', this.onAccess)
    this.doc.on('unwritable', this.onAccess)
    this.unwatch = hub.peers.watch(
      this.doc,
      () => {
        this.schedulePresence()
        this.broadcastMembers()
      },
      () => this.scheduleStatus()
    )
  }

  get version(): number {
    return this.first + this.entries.length
  }

  get name(): string {
    return this.hub.swarmpad.library.find(this.key)?.name ?? this.open.entry.name
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.doc.off('change', this.onChange)
    this.doc.off('members', this.onMembers)
    this.doc.off('interrupt', this.onInterrupt)
    this.doc.off('writable', this.onAccess)
    this.doc.off('unwritable', this.onAccess)
    this.unwatch()
    if (this.presenceTimer) clearTimeout(this.presenceTimer)
    if (this.statusTimer) clearTimeout(this.statusTimer)
    this.journal.close()
    this.history?.close()
    for (const t of [...this.tabs]) {
      t.conn.send({ type: 'error', doc: t.ref, code: 'CLOSED', message: 'the document was closed; reopening', resync: true })
      t.conn.dropTab(t)
    }
    this.tabs.clear()
  }

  // --- joining ---

  /// Welcome a tab. `resume`: the tab's epoch and version, if it had one.
  async join(tab: Tab, resume: { epoch: string; version: number } | null, nextSeq = 0, jid?: number): Promise<void> {
    const canResume =
      resume !== null &&
      resume.epoch === this.epoch &&
      Number.isInteger(resume.version) &&
      resume.version >= this.first &&
      resume.version <= this.version
    // One live tab per clientID: a reconnect replaces the old connection's.
    for (const other of this.tabs) if (other.clientID === tab.clientID && other !== tab) other.conn.dropTab(other)

    let welcome: WelcomeMessage
    const base = {
      type: 'welcome' as const,
      ...(jid !== undefined ? { jid } : {}),
      doc: tab.ref,
      name: this.name,
      key: this.key,
      epoch: this.epoch,
      writable: this.doc.writable,
      role: this.open.entry.role,
      markdown: isMarkdownName(this.name)
    }
    if (canResume) {
      tab.sent = resume!.version
      welcome = { ...base, version: this.version, mode: 'resume' }
    } else {
      // Start over from the current text. What this tab pushed and we
      // accepted is in it; wait until that is durable, so "applied" means saved.
      const durable = this.lastDurable.get(tab.clientID)
      if (durable !== undefined) await withTimeout(durable.catch(() => {}), DURABLE_WAIT_MS)
      if (this.disposed || tab.closed) return
      // Accepted in this run (so durable now), or durable before a restart.
      const applied = Math.max(this.lastSeq.get(tab.clientID) ?? -1, this.journal.appliedThrough(tab.clientID))
      // Seqs an earlier run saw are never applied again (the tab numbers
      // what it resends anew, above every seq it used).
      // Nor are seqs the tab used before this join (it renumbers what it
      // resends from nextSeq on): a push of them still on its way, or
      // replayed, would otherwise apply them a second time.
      const prior = Math.max(this.journal.lastSeq(tab.clientID), nextSeq - 1)
      if (prior > this.refused(tab.clientID)) this.refuseThrough.set(tab.clientID, prior)
      tab.sent = this.version
      welcome = { ...base, version: this.version, mode: 'reset', text: this.doc.text.toString(), applied }
    }
    this.tabs.add(tab)
    tab.ready = true
    tab.conn.send(welcome)
    this.deliver(tab)
    void this.sendMembers(tab)
    this.sendStatus(tab)
    this.sendPresence(tab)
  }

  leave(tab: Tab): void {
    if (!this.tabs.delete(tab)) return
    if (this.cursorTab === tab) {
      this.cursorTab = null
      this.hub.peers.setCursor(this.doc, null)
    }
    this.schedulePresence()
  }

  // --- pushes ---

  /// Apply a push. Everything is checked before anything changes; an error
  /// is answered with an `error` message telling the tab to resync.
  push(tab: Tab, msg: Extract<ClientMessage, { type: 'push' }>): void {
    const reply = (code: ErrorCode, message: string) => tab.conn.send({ type: 'error', rid: msg.rid, doc: tab.ref, code, message, resync: true })
    // Versions count within one run of the authority: a push from another
    // run (sent before a restart, or replayed) is never applied.
    if (msg.epoch !== this.epoch) return reply('STALE_EPOCH', 'this push was made against an earlier run of swarmpad; start over')
    const v = msg.version
    if (!Number.isInteger(v) || v < 0) return reply('BAD_VERSION', `version ${v} is not a non-negative integer`)
    if (v > this.version) return reply('BAD_VERSION', `version ${v} is from the future: the document is at version ${this.version}`)
    if (v < this.first) return reply('STALE_VERSION', `version ${v} is older than any kept (${this.first}); start over`)
    // Moving to a re-key's successor: the tab keeps the push and sends it to
    // the successor once it has joined it (the move ends with error CLOSED).
    if (this.doc.frozen !== null) {
      tab.conn.send({ type: 'error', rid: msg.rid, doc: tab.ref, code: 'MOVED', message: this.doc.frozen })
      return
    }
    if (!this.doc.writable) {
      const why = this.doc.state === 'needs-upgrade' ? (this.doc.interruptReason ?? 'upgrade swarmpad') : 'this device may read this document but not write to it'
      return reply(this.doc.state === 'needs-upgrade' ? 'UPGRADE_REQUIRED' : 'NOT_WRITABLE', why)
    }
    const updates: Array<{ changes: ChangeSet; clientID: string; seq: number }> = []
    let length = this.lengthAt(v)
    let prevSeq = -1
    for (const [i, u] of msg.updates.entries()) {
      let cs: ChangeSet
      try {
        cs = changeSetFromJSON(u.changes)
      } catch (err) {
        return reply('BAD_CHANGE', `update ${i}: ${errorMessage(err)}`)
      }
      if (cs.length !== length) {
        return reply('BAD_CHANGE', `update ${i}: a change set of length ${cs.length} does not fit the text of length ${length} at version ${v}`)
      }
      if (insertedLength(cs) > MAX_UPDATE_INSERT) return reply('TOO_LARGE', `update ${i} inserts more than ${MAX_UPDATE_INSERT} characters; split it`)
      if (u.seq <= prevSeq) return reply('BAD_SEQ', `update ${i}: seq ${u.seq} does not follow ${prevSeq}`)
      prevSeq = u.seq
      length = cs.newLength
      updates.push({ changes: cs, clientID: tab.clientID, seq: u.seq })
    }

    const ack = (accepted: boolean) => tab.conn.send({ type: 'ack', doc: tab.ref, rid: msg.rid, version: this.version, accepted })
    let todo = updates
    if (v !== this.version) {
      // Behind only by its own updates, accepted but not yet back (not
      // durable yet), which the push repeats first: skip those; the rest is
      // based on the current text. Nothing is mapped, so nothing can differ.
      const gap = this.entries.slice(v - this.first)
      const own = gap.length <= updates.length && gap.every((e, i) => e.clientID === tab.clientID && e.seq === updates[i]!.seq)
      // Otherwise behind: the tab catches up (it rebases its own changes) and pushes again.
      if (!own) return ack(false)
      todo = updates.slice(gap.length)
      // What follows the repeated ones must be new too (not a replay).
      if (todo.length > 0 && todo[0]!.seq <= this.refused(tab.clientID)) return ack(false)
    } else if (updates[0]!.seq <= this.refused(tab.clientID)) {
      // A replay of updates already accepted (same clientID, seq not newer).
      return ack(false)
    }
    for (const u of todo) {
      try {
        this.apply(tab.clientID, u.seq, u.changes)
      } catch (err) {
        const code = err instanceof SwarmpadError ? err.code : 'INTERNAL'
        return reply(code, errorMessage(err))
      }
    }
    ack(true)
    this.scheduleDeliver()
  }

  private apply(clientID: string, seq: number, changes: ChangeSet): void {
    if (changes.empty) {
      this.append({ changes, clientID, seq, durable: true })
      this.noteSeq(clientID, seq)
      return
    }
    const before = this.doc.localClock
    this.attributing = { clientID, seq }
    this.lastEntry = null
    let result: ReturnType<SwarmDocument['edit']>
    try {
      result = this.doc.edit(changes)
    } finally {
      this.attributing = null
    }
    const after = this.doc.localClock
    // Synchronously, before the block can be durable: see EditJournal.
    this.journal.record(clientID, seq, before, after)
    this.noteSeq(clientID, seq)
    const entry = this.lastEntry as Entry | null
    this.lastEntry = null
    if (entry === null) return // edit() found nothing to change
    this.nonDurable++
    this.scheduleStatus()
    const durable = result.durable.then(() => {
      entry.durable = true
      this.nonDurable--
      this.scheduleStatus()
      this.scheduleDeliver()
    })
    durable.catch(() => {
      // Never saved (the document closed): never confirmed. The tab sends it
      // again when it reconnects.
    })
    this.lastDurable.set(clientID, durable)
  }

  /// The highest seq of `clientID` that a push may not carry first.
  private refused(clientID: string): number {
    return Math.max(this.lastSeq.get(clientID) ?? -1, this.refuseThrough.get(clientID) ?? -1)
  }

  /// Remember the newest seq of a tab (the most recent MAX_CLIENTS tabs).
  private noteSeq(clientID: string, seq: number): void {
    this.lastSeq.delete(clientID)
    this.lastSeq.set(clientID, seq)
    if (this.lastSeq.size > MAX_CLIENTS) {
      const oldest = this.lastSeq.keys().next().value as string
      if (![...this.tabs].some((t) => t.clientID === oldest)) {
        this.lastSeq.delete(oldest)
        this.lastDurable.delete(oldest)
        this.refuseThrough.delete(oldest)
      }
    }
  }

  private changed(c: DocumentChange): void {
    const attr = this.attributing
    const entry: Entry =
      attr !== null
        ? { changes: c.changes, clientID: attr.clientID, seq: attr.seq, durable: false }
        : { changes: c.changes, clientID: c.origin === 'remote' ? REMOTE_CLIENT : LOCAL_CLIENT, seq: -1, durable: true }
    if (attr !== null) this.lastEntry = entry
    this.append(entry)
    if (attr === null) this.scheduleStatus()
  }

  private append(entry: Entry): void {
    this.entries.push(entry)
    const changes = entry.changes
    if (!changes.empty) {
      for (const t of this.tabs) {
        if (t.cursor !== null) t.cursor = { anchor: changes.mapPos(t.cursor.anchor, 1), head: changes.mapPos(t.cursor.head, 1) }
      }
    }
    this.scheduleDeliver()
    if (this.entries.length >= TRIM_AT) this.trim()
  }

  private trim(): void {
    let keepFrom = this.version - KEEP_ENTRIES
    for (const t of this.tabs) {
      if (this.version - t.sent > MAX_LAG) {
        t.conn.send({ type: 'error', doc: t.ref, code: 'STALE_VERSION', message: 'this tab fell too far behind; starting over', resync: true })
        t.conn.dropTab(t)
        continue
      }
      keepFrom = Math.min(keepFrom, t.sent)
    }
    const drop = keepFrom - this.first
    if (drop <= 0) return
    this.entries.splice(0, drop)
    this.first += drop
  }

  /// Text length at version v (first <= v <= version).
  private lengthAt(v: number): number {
    if (v === this.version) return this.doc.text.length
    return this.entries[v - this.first]!.changes.length
  }

  // --- delivery ---

  private scheduleDeliver(): void {
    if (this.deliverScheduled) return
    this.deliverScheduled = true
    queueMicrotask(() => {
      this.deliverScheduled = false
      for (const t of this.tabs) this.deliver(t)
    })
  }

  /// Send a tab every entry it lacks, stopping before its own update that is not durable yet.
  private deliver(tab: Tab): void {
    if (!tab.ready || tab.closed || this.disposed) return
    let parts: string[] = []
    let bytes = 0
    let from = tab.sent
    const flush = () => {
      if (parts.length === 0) return
      tab.conn.sendRaw(`{"type":"updates","doc":${JSON.stringify(tab.ref)},"version":${from},"updates":[${parts.join(',')}]}`)
      from += parts.length
      parts = []
      bytes = 0
    }
    while (tab.sent < this.version) {
      const e = this.entries[tab.sent - this.first]!
      if (e.clientID === tab.clientID && !e.durable) break
      e.json ??= JSON.stringify(e.changes.toJSON())
      parts.push(`{"clientID":${JSON.stringify(e.clientID)},"changes":${e.json}}`)
      bytes += e.json.length
      tab.sent++
      if (bytes >= UPDATES_CHUNK_BYTES) flush()
    }
    flush()
  }

  // --- presence ---

  /// A tab moved its cursor (offsets in the text at `version`).
  presence(tab: Tab, msg: Extract<ClientMessage, { type: 'presence' }>): void {
    if (msg.epoch !== this.epoch) return // from before a restart: the next one will do
    const v = msg.version
    if (!Number.isInteger(v) || v < 0 || v > this.version) {
      tab.conn.send({ type: 'error', doc: tab.ref, code: 'BAD_VERSION', message: `presence version ${v} is not between 0 and ${this.version}` })
      return
    }
    if (v < this.first) return // too old to map; the next one will do
    if (msg.anchor === null || msg.head === null) {
      tab.cursor = null
    } else {
      // Clamp into the text at v, then map to now: never forwarded as sent.
      const len = this.lengthAt(v)
      const clamp = (x: number) => Math.max(0, Math.min(len, Math.trunc(x)))
      let anchor = clamp(msg.anchor)
      let head = clamp(msg.head)
      for (let i = v - this.first; i < this.entries.length; i++) {
        const ch = this.entries[i]!.changes
        anchor = ch.mapPos(anchor, 1)
        head = ch.mapPos(head, 1)
      }
      tab.cursor = { anchor, head }
    }
    this.cursorTab = tab
    this.hub.peers.setCursor(this.doc, tab.cursor)
    this.schedulePresence()
  }

  private schedulePresence(): void {
    if (this.presenceTimer !== null || this.disposed) return
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null
      for (const t of this.tabs) this.sendPresence(t)
    }, PRESENCE_DELAY_MS)
    this.presenceTimer.unref?.()
  }

  private sendPresence(tab: Tab): void {
    if (!tab.ready || tab.closed) return
    const self = this.selfMember()
    const peers: PresencePeer[] = []
    for (const p of this.hub.peers.presence(this.doc)) {
      if (!p.online) continue
      const m = this.members.find((x) => b4a.toString(x.key, 'hex') === p.writerKey)
      peers.push({
        id: p.writerKey,
        name: p.name || (m ? displayName(m) : 'someone'),
        color: p.color || (m ? colorOf(m) : '#888888'),
        anchor: p.anchor,
        head: p.head,
        local: false
      })
    }
    for (const t of this.tabs) {
      if (t === tab || t.cursor === null) continue
      peers.push({
        id: `tab:${t.clientID}`,
        name: `${self ? displayName(self) : 'you'} (another tab)`,
        color: self ? colorOf(self) : '#888888',
        anchor: t.cursor.anchor,
        head: t.cursor.head,
        local: true
      })
    }
    tab.conn.send({ type: 'presence', doc: tab.ref, version: this.version, peers })
  }

  // --- members and status ---

  private selfMember(): Member | undefined {
    return this.members.find((m) => b4a.equals(m.key, this.doc.writerKey))
  }

  private refreshMembers(): Promise<void> {
    const run = (async () => {
      try {
        this.members = await this.doc.members()
      } catch {
        // closing
      }
    })()
    this.membersLoaded = run
    return run.then(() => this.broadcastMembers())
  }

  private membersInfo(): { members: MemberInfo[]; canManage: boolean } {
    const online = new Set(this.hub.peers.presence(this.doc).filter((p) => p.online).map((p) => p.writerKey))
    const selfKey = b4a.toString(this.doc.writerKey, 'hex')
    const names = distinctLabels(this.members, displayName, (m) => b4a.toString(m.key, 'hex').slice(0, 8))
    const members = this.members.map((m) => {
      const key = b4a.toString(m.key, 'hex')
      return {
        key,
        n: m.n,
        name: names.get(m) ?? displayName(m),
        color: colorOf(m),
        role: m.role,
        clientId: m.clientId,
        online: key === selfKey || online.has(key),
        self: key === selfKey
      }
    })
    const self = this.selfMember()
    return { members, canManage: self !== undefined && self.role === 'owner' && this.doc.writable }
  }

  private async sendMembers(tab: Tab): Promise<void> {
    if (this.membersLoaded === null) await this.refreshMembers()
    else await this.membersLoaded
    if (tab.closed || !tab.ready) return
    tab.conn.send({ type: 'members', doc: tab.ref, ...this.membersInfo() })
  }

  private broadcastMembers(): void {
    if (this.membersLoaded === null) {
      void this.refreshMembers()
      return
    }
    const info = this.membersInfo()
    const json = JSON.stringify(info)
    if (json === this.lastMembersJSON) return
    this.lastMembersJSON = json
    for (const t of this.tabs) if (t.ready) t.conn.send({ type: 'members', doc: t.ref, ...info })
    this.schedulePresence()
  }

  private status(): { state: SyncStatus['state']; label: string; peers: number; saving: boolean; network: boolean } {
    const s = this.hub.peers.status(this.doc)
    const saving = this.nonDurable > 0 || (this.doc.opened && !this.doc.closingOrClosed && this.doc.appendStats.unsaved > 0)
    return { state: s.state, label: s.label, peers: s.peers, saving, network: this.hub.peers.available }
  }

  private scheduleStatus(): void {
    if (this.statusTimer !== null || this.disposed) return
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null
      const s = this.status()
      const json = JSON.stringify(s)
      if (json === this.lastStatusJSON) return
      this.lastStatusJSON = json
      for (const t of this.tabs) if (t.ready) t.conn.send({ type: 'status', doc: t.ref, ...s })
      // Blocks are still being written: look again shortly.
      if (s.saving) this.scheduleStatus()
    }, STATUS_DELAY_MS)
    this.statusTimer.unref?.()
  }

  private sendStatus(tab: Tab): void {
    tab.conn.send({ type: 'status', doc: tab.ref, ...this.status() })
  }

  // --- requests ---

  async request(tab: Tab, msg: ClientMessage): Promise<ServerMessage> {
    const doc = this.doc
    switch (msg.type) {
      case 'profile': {
        const self = await doc.self()
        if (self === null) throw new SwarmpadError('NOT_WRITABLE', 'this device is not a member of the document')
        const name = memberName(msg.name)
        if (!name.ok) throw SwarmpadError.badArgument(`invalid name "${msg.name}": ${name.problem}`)
        const color = memberColor(msg.color)
        if (!color.ok) throw SwarmpadError.badArgument(`invalid colour "${msg.color}": ${color.problem}`)
        await doc.setProfile({ name: name.value, color: color.value, device: self.device })
        return { type: 'result', rid: msg.rid, doc: tab.ref }
      }
      case 'remove-member': {
        // With a re-key this document closes and the tab moves to the
        // successor (error CLOSED with resync, then a join by name) before
        // the result arrives.
        const value = await this.hub.remover.remove(doc, b4a.from(msg.key, 'hex'), msg.rekey === true)
        return { type: 'result', rid: msg.rid, doc: tab.ref, value }
      }
      case 'history': {
        const h = this.historyOf()
        const { count, first, points } = await h.timeline()
        const membership = await doc.membership()
        const members = membership.members.map((m) => ({
          key: b4a.toString(m.key, 'hex'),
          n: m.n,
          name: displayName(m),
          color: colorOf(m),
          role: m.role,
          clientId: m.clientId,
          online: false,
          self: b4a.equals(m.key, doc.writerKey)
        }))
        return { type: 'history', doc: tab.ref, rid: msg.rid, count, first, points, members }
      }
      case 'history-at': {
        const clientToMember = msg.blame ? new Map((await doc.membership()).members.map((m) => [m.clientId, m.n] as const)) : null
        const { text, blame } = await this.historyOf().textAt(msg.index, clientToMember)
        return { type: 'history-at', doc: tab.ref, rid: msg.rid, index: msg.index, text, blame }
      }
      case 'restore': {
        const { text } = await this.historyOf().textAt(msg.index, null)
        if (!doc.writable) throw new SwarmpadError('NOT_WRITABLE', 'this device may read this document but not write to it')
        // A new edit that turns the current text into the old one: the
        // history keeps everything, and concurrent edits elsewhere survive.
        const res = doc.replaceText(text)
        await res.durable
        return { type: 'result', rid: msg.rid, doc: tab.ref, value: { version: this.version } }
      }
      case 'invite-create': {
        const p = this.hub.invites
        if (p === null) throw unavailable()
        const invite = await p.create(doc, msg.kind)
        return { type: 'result', rid: msg.rid, doc: tab.ref, value: invite }
      }
      case 'invite-list': {
        const p = this.hub.invites
        return { type: 'invites', doc: tab.ref, rid: msg.rid, available: p !== null, invites: p === null ? [] : await p.list(doc) }
      }
      case 'invite-cancel': {
        const p = this.hub.invites
        if (p === null) throw unavailable()
        await p.cancel(doc, msg.id)
        return { type: 'result', rid: msg.rid, doc: tab.ref }
      }
      default:
        throw new SwarmpadError('BAD_ARGUMENT', `unexpected ${msg.type}`)
    }
  }

  private historyOf(): DocumentHistory {
    this.history ??= new DocumentHistory(this.doc)
    return this.history
  }
}

function unavailable(): SwarmpadError {
  return new SwarmpadError('UNAVAILABLE', 'invites are not available in this swarmpad (it runs without its pairing service)')
}

/// One tab's membership in one document (a connection may join several).
export class Tab {
  readonly conn: Connection
  readonly authority: DocAuthority
  /// The document reference the tab used (echoed in every message).
  readonly ref: string
  readonly clientID: string
  /// Versions below this were sent to the tab.
  sent = 0
  ready = false
  closed = false
  /// The tab's cursor in the authority's current text.
  cursor: { anchor: number; head: number } | null = null

  constructor(conn: Connection, authority: DocAuthority, ref: string, clientID: string) {
    this.conn = conn
    this.authority = authority
    this.ref = ref
    this.clientID = clientID
  }
}

type QueuedMessage = { msg: ClientMessage }

/// One page connection: validation, rate limits, ordering, its tabs.
export class Connection {
  readonly hub: CollabHub
  private readonly transport: Transport
  private readonly tabs = new Map<string, Tab>()
  private msgTokens = MESSAGE_BURST
  private byteTokens = BYTES_BURST
  private refilled = Date.now()
  private queue: QueuedMessage[] = []
  private running = false
  private paused = false
  closed = false

  constructor(hub: CollabHub, transport: Transport) {
    this.hub = hub
    this.transport = transport
  }

  /// One frame from the page: its text, or null for a binary frame.
  receive(data: string | null): void {
    if (this.closed) return
    if (data === null) return this.shutdown(CLOSE_INVALID, 'binary: only JSON text frames are accepted')
    if (!this.take(data.length)) return
    const parsed = parseClientMessage(data)
    if (!parsed.ok) return this.shutdown(parsed.code, parsed.reason)
    // Typing (pushes, cursors) is handled at once when nothing waits before it.
    if (!this.running && this.queue.length === 0 && this.handleNow(parsed.message)) return
    this.queue.push({ msg: parsed.message })
    if (this.queue.length > MAX_QUEUE) return this.shutdown(CLOSE_POLICY, `flood: more than ${MAX_QUEUE} requests waiting`)
    if (this.queue.length > PAUSE_QUEUE && !this.paused && this.transport.pause) {
      this.paused = true
      this.transport.pause()
    }
    if (!this.running) void this.run()
  }

  /// Token buckets: messages and bytes per second.
  private take(bytes: number): boolean {
    const now = Date.now()
    const dt = (now - this.refilled) / 1000
    this.refilled = now
    this.msgTokens = Math.min(MESSAGE_BURST, this.msgTokens + dt * MESSAGES_PER_SECOND)
    this.byteTokens = Math.min(BYTES_BURST, this.byteTokens + dt * BYTES_PER_SECOND)
    this.msgTokens -= 1
    this.byteTokens -= bytes
    if (this.msgTokens < 0) {
      this.shutdown(CLOSE_POLICY, `rate-limit: more than ${MESSAGES_PER_SECOND} messages per second`)
      return false
    }
    if (this.byteTokens < 0) {
      this.shutdown(CLOSE_POLICY, `rate-limit: more than ${BYTES_PER_SECOND} bytes per second`)
      return false
    }
    return true
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        const { msg } = this.queue.shift()!
        if (this.paused && this.queue.length <= PAUSE_QUEUE / 2) {
          this.paused = false
          this.transport.resume?.()
        }
        try {
          await this.handle(msg)
        } catch (err) {
          this.replyError(msg, err)
        }
      }
    } finally {
      this.running = false
    }
  }

  private replyError(msg: ClientMessage, err: unknown): void {
    const code: ErrorCode = err instanceof SwarmpadError ? err.code : 'INTERNAL'
    const out: ServerMessage = { type: 'error', code, message: errorMessage(err) }
    if ('rid' in msg && typeof msg.rid === 'number') out.rid = msg.rid
    if ('doc' in msg) out.doc = msg.doc
    this.send(out)
  }

  /// Handle a message that needs no waiting; false if it does.
  private handleNow(msg: ClientMessage): boolean {
    if (msg.type !== 'push' && msg.type !== 'presence' && msg.type !== 'leave') return false
    try {
      if (msg.type === 'leave') {
        const tab = this.tabs.get(msg.doc)
        if (tab) this.dropTab(tab)
        return true
      }
      const tab = this.tabOf(msg)
      if (msg.type === 'push') tab.authority.push(tab, msg)
      else tab.authority.presence(tab, msg)
    } catch (err) {
      this.replyError(msg, err)
    }
    return true
  }

  private tabOf(msg: ClientMessage & { doc: string }): Tab {
    const tab = this.tabs.get(msg.doc)
    if (tab !== undefined) return tab
    const known = this.hub.swarmpad.library.find(msg.doc) !== undefined
    throw new SwarmpadError('DOC_NOT_FOUND', known ? `join "${msg.doc}" before sending ${msg.type}` : `no document named "${msg.doc}"`)
  }

  private async handle(msg: ClientMessage): Promise<void> {
    const hub = this.hub
    if (this.handleNow(msg)) return
    switch (msg.type) {
      case 'documents':
        this.send({ type: 'documents', ...(msg.rid !== undefined ? { rid: msg.rid } : {}), documents: hub.documentList() })
        return
      case 'create': {
        const open = await hub.swarmpad.create(msg.name)
        hub.authority(open)
        this.send({ type: 'result', rid: msg.rid, value: { name: open.entry.name, key: open.entry.key } })
        hub.broadcastDocuments()
        return
      }
      case 'join':
        await this.join(msg)
        return
      case 'leave':
      case 'push':
      case 'presence':
        return // handled by handleNow()
      default: {
        const tab = this.tabOf(msg)
        this.send(await tab.authority.request(tab, msg))
      }
    }
  }

  private async join(msg: Extract<ClientMessage, { type: 'join' }>): Promise<void> {
    const old = this.tabs.get(msg.doc)
    if (old) this.dropTab(old)
    let open: OpenDocument
    try {
      open = await this.hub.swarmpad.open(msg.doc)
    } catch (err) {
      this.send({ type: 'error', doc: msg.doc, code: err instanceof SwarmpadError ? err.code : 'INTERNAL', message: errorMessage(err) })
      return
    }
    if (this.closed) return
    const authority = this.hub.authority(open)
    const tab = new Tab(this, authority, msg.doc, msg.clientID)
    this.tabs.set(msg.doc, tab)
    await authority.join(tab, msg.resume, msg.nextSeq ?? 0, msg.jid)
  }

  dropTab(tab: Tab): void {
    tab.closed = true
    if (this.tabs.get(tab.ref) === tab) this.tabs.delete(tab.ref)
    tab.authority.leave(tab)
  }

  send(msg: ServerMessage): void {
    this.sendRaw(JSON.stringify(msg))
  }

  sendRaw(data: string): void {
    if (this.closed) return
    try {
      this.transport.send(data)
    } catch {
      return this.dispose()
    }
    if (this.transport.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.shutdown(CLOSE_POLICY, 'slow-consumer: the page does not read its messages')
    }
  }

  /// Close with a code and reason; the tabs leave their documents.
  shutdown(code: number, reason: string): void {
    if (this.closed) return
    // A paused socket could not read the page's answer to the close.
    if (this.paused) this.transport.resume?.()
    try {
      this.transport.close(code, reason.slice(0, 120))
    } catch {
      // already closed
    }
    this.dispose()
  }

  /// The transport closed.
  dispose(): void {
    if (this.closed) return
    this.closed = true
    this.queue = []
    for (const tab of [...this.tabs.values()]) this.dropTab(tab)
    this.hub.forget(this)
  }
}

// --- helpers ---

function rawToString(data: RawData): string {
  if (typeof data === 'string') return data
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return (data as Buffer).toString('utf8')
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))])
  if (timer) clearTimeout(timer)
}

/// A member's colour: the one rule of src/doc/member-view.ts.
export const colorOf = shownColor

/// A member's name: their own, or a short form of their key.
export function displayName(m: Pick<Member, 'name' | 'key' | 'n'>): string {
  return m.name !== '' ? m.name : `member ${m.n + 1} (${b4a.toString(m.key, 'hex').slice(0, 6)})`
}
