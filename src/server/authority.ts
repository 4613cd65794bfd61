import type { CollabHub } from './collab.js'
import type { Tab } from './connection.js'
import { answerRequest } from './requests.js'
import { membersInfo, presencePeers } from './member-lists.js'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ChangeSet } from '@codemirror/state'
import type { OpenDocument } from '../swarmpad.js'
import type { DocumentChange, SwarmDocument } from '../sync/document.js'
import type { Member } from '../doc/membership.js'
import { projectMembers, type MemberProjection } from '../doc/member-projection.js'
import { errorMessage, SwarmpadError, type ErrorCode } from '../errors.js'
import { EditJournal } from './journal.js'
import { DocumentHistory } from './history.js'
import { type SyncStatus } from './peers.js'
import {
  changeSetFromJSON,
  insertedLength,
  isMarkdownName,
  MAX_UPDATE_INSERT,
  type ClientMessage,
  type MemberInfo,
  
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

/// Coalescing of status broadcasts. Presence is coalesced within one tick
/// only, never throttled here: its one throttle is the network's
/// (PRESENCE_MIN_INTERVAL_MS in src/net/presence.ts, PROTOCOL.md).
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

/// The tag of an edit a tab made, carried on the document's change event.
interface TabEdit {
  authority: DocAuthority
  clientID: string
  seq: number
  /// Filled in by the change event: the entry the edit became.
  entry: Entry | null
}

function isTabEdit(v: unknown): v is TabEdit {
  return typeof v === 'object' && v !== null && 'authority' in v && 'clientID' in v && 'seq' in v
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
  private history: DocumentHistory | null = null
  private members: Member[] = []
  private membersLoaded: Promise<void> | null = null
  private deliverScheduled = false
  private presenceScheduled = false
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
  closed = false

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

  close(): void {
    if (this.closed) return
    this.closed = true
    this.doc.off('change', this.onChange)
    this.doc.off('members', this.onMembers)
    this.doc.off('interrupt', this.onInterrupt)
    this.doc.off('writable', this.onAccess)
    this.doc.off('unwritable', this.onAccess)
    this.unwatch()
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
      if (this.closed || tab.closed) return
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
    // The tag rides on the document's change event (as a Yjs transaction
    // origin does), which fills in the entry it made.
    const tag: TabEdit = { authority: this, clientID, seq, entry: null }
    const result = this.doc.edit(changes, this.doc.version, { tag })
    const after = this.doc.localClock
    // Synchronously, before the block can be durable: see EditJournal.
    this.journal.record(clientID, seq, before, after)
    this.noteSeq(clientID, seq)
    const entry = tag.entry as Entry | null
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
    const tag = isTabEdit(c.tag) && c.tag.authority === this ? c.tag : null
    const entry: Entry =
      tag !== null
        ? { changes: c.changes, clientID: tag.clientID, seq: tag.seq, durable: false }
        : { changes: c.changes, clientID: c.origin === 'remote' ? REMOTE_CLIENT : LOCAL_CLIENT, seq: -1, durable: true }
    if (tag !== null) tag.entry = entry
    this.append(entry)
    if (tag === null) this.scheduleStatus()
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
    if (!tab.ready || tab.closed || this.closed) return
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

  /// Tell every tab the cursors once the current tick is over (several
  /// changes in one tick make one message).
  private schedulePresence(): void {
    if (this.presenceScheduled || this.closed) return
    this.presenceScheduled = true
    queueMicrotask(() => {
      this.presenceScheduled = false
      if (this.closed) return
      for (const t of this.tabs) this.sendPresence(t)
    })
  }

  private sendPresence(tab: Tab): void {
    if (!tab.ready || tab.closed) return
    const others = [...this.tabs].filter((t) => t !== tab && t.cursor !== null).map((t) => ({ clientID: t.clientID, cursor: t.cursor! }))
    const peers = presencePeers(this.projection(), this.hub.peers.presence(this.doc), others)
    tab.conn.send({ type: 'presence', doc: tab.ref, version: this.version, peers })
  }

  // --- members and status ---

  /// The members as every part of swarmpad shows them, online from the network.
  private projection(): MemberProjection {
    return projectMembers(this.members, this.doc.writerKey, this.hub.peers.onlineDevices(this.doc))
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
    return membersInfo(this.projection(), this.doc.writable)
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
    if (this.statusTimer !== null || this.closed) return
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

  // --- requests (requests.ts) ---

  request(tab: Tab, msg: ClientMessage): Promise<ServerMessage> {
    return answerRequest(this, tab, msg)
  }

  historyOf(): DocumentHistory {
    this.history ??= new DocumentHistory(this.doc)
    return this.history
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))])
  if (timer) clearTimeout(timer)
}
