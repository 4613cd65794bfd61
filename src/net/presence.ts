import c from 'compact-encoding'
import b4a from 'b4a'
import { EventEmitter } from 'node:events'
import Protomux, { type ProtomuxChannel, type ProtomuxMessage } from 'protomux'
import type { SwarmConnection } from 'hyperswarm'
import type { SwarmDocument, DocumentChange } from '../sync/document.js'
import type { Member } from '../doc/membership.js'
import { projectMembers, type MemberProjection } from '../doc/member-projection.js'
import { MAX_COLOR_LENGTH, MAX_NAME_LENGTH } from '../limits.js'

// Presence: who else has a document open, with their name, colour and cursor.
// It rides a Protomux channel on every swarm connection, next to replication,
// and never enters any log. PROTOCOL.md in this folder gives the bytes.

/// Protomux protocol name of the presence channel (one per connection).
export const PRESENCE_PROTOCOL = 'swarmpad/presence/1'

/// Version byte at the start of every presence message.
export const PRESENCE_VERSION = 1

/// Largest presence message accepted or sent. A legitimate one is at most
/// 1 + 32 + 32 + (2 + 3 * MAX_NAME_LENGTH) + (1 + 3 * MAX_COLOR_LENGTH) + 1
/// + 2 * (1 + MAX_RELATIVE_POSITION_BYTES) = 447 bytes; anything larger is
/// refused before decoding, so a peer cannot make us decode or keep more.
export const MAX_PRESENCE_BYTES = 512

/// Largest encoded Yjs relative position in a presence. One that points at an
/// item is a type tag, a client id (<= 5 varint bytes), a clock (<= 6) and an
/// assoc; one at the end of the text names the root type. 64 bytes is ample.
export const MAX_RELATIVE_POSITION_BYTES = 64

/// How often this device repeats its presence for each open document.
export const PRESENCE_HEARTBEAT_MS = 1000

/// A peer whose presence was not repeated for this long is shown offline:
/// "disappears within a few seconds" when a connection dies silently. A
/// closed connection or a closed document removes it at once.
export const PRESENCE_TIMEOUT_MS = 4000

/// Least time between two presence sends for one document (cursor moves are
/// coalesced): 30 per second is smooth enough for a remote caret. The one
/// presence throttle: the page and the authority pass cursors on at once
/// (src/server/PROTOCOL.md, "Presence: one throttle").
export const PRESENCE_MIN_INTERVAL_MS = 33

/// Presence messages accepted per connection and second (a token bucket of
/// this size, refilled at this rate). A device sends about one per open
/// document and second plus at most 30 per second while its cursor moves;
/// the cap keeps a flooding peer from costing us more than a few checks.
export const MAX_PRESENCE_MESSAGES_PER_SECOND = 200

/// One decoded presence message.
export interface PresenceMessage {
  /// Discovery key of the document (a peer that cannot open replication of
  /// the document learns nothing new from it: it is the swarm topic already).
  discoveryKey: Uint8Array
  /// The writer key this presence claims to be.
  writerKey: Uint8Array
  name: string
  color: string
  /// False in the last message of a device that closes the document.
  alive: boolean
  /// Cursor and selection as encoded Yjs relative positions; null when none.
  cursor: { anchor: Uint8Array; head: Uint8Array } | null
}

export type PresenceDropReason = 'oversized' | 'malformed' | 'version' | 'identity' | 'unknown-document' | 'rate'

export type PresenceDecodeResult = { ok: true; message: PresenceMessage } | { ok: false; reason: 'oversized' | 'malformed' | 'version' }

const FLAG_ALIVE = 1
const FLAG_CURSOR = 2

/// Encode a presence message. Throws on a value this device should never
/// send (over the caps): that is a programming error, not peer input.
export function encodePresence(m: PresenceMessage): Uint8Array {
  if (m.discoveryKey.byteLength !== 32 || m.writerKey.byteLength !== 32) throw new Error('presence: keys must be 32 bytes')
  const name = m.name.slice(0, MAX_NAME_LENGTH)
  const color = m.color.slice(0, MAX_COLOR_LENGTH)
  if (m.cursor !== null) {
    for (const p of [m.cursor.anchor, m.cursor.head]) {
      if (p.byteLength === 0 || p.byteLength > MAX_RELATIVE_POSITION_BYTES) throw new Error('presence: relative position size out of range')
    }
  }
  const flags = (m.alive ? FLAG_ALIVE : 0) | (m.cursor !== null ? FLAG_CURSOR : 0)
  const state = { start: 0, end: 0, buffer: null as Uint8Array | null }
  c.uint8.preencode(state, PRESENCE_VERSION)
  c.fixed32.preencode(state, m.discoveryKey)
  c.fixed32.preencode(state, m.writerKey)
  c.string.preencode(state, name)
  c.string.preencode(state, color)
  c.uint8.preencode(state, flags)
  if (m.cursor !== null) {
    c.buffer.preencode(state, m.cursor.anchor)
    c.buffer.preencode(state, m.cursor.head)
  }
  state.buffer = b4a.allocUnsafe(state.end)
  state.start = 0
  c.uint8.encode(state, PRESENCE_VERSION)
  c.fixed32.encode(state, m.discoveryKey)
  c.fixed32.encode(state, m.writerKey)
  c.string.encode(state, name)
  c.string.encode(state, color)
  c.uint8.encode(state, flags)
  if (m.cursor !== null) {
    c.buffer.encode(state, m.cursor.anchor)
    c.buffer.encode(state, m.cursor.head)
  }
  if (state.buffer.byteLength > MAX_PRESENCE_BYTES) throw new Error('presence: message over MAX_PRESENCE_BYTES')
  return state.buffer
}

/// Decode an untrusted presence message. Never throws: anything that is not
/// exactly one well-formed message within the caps is refused with a reason.
export function decodePresence(bytes: Uint8Array): PresenceDecodeResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'malformed' }
  if (bytes.byteLength > MAX_PRESENCE_BYTES) return { ok: false, reason: 'oversized' }
  try {
    const state = { start: 0, end: bytes.byteLength, buffer: bytes }
    const version = c.uint8.decode(state)
    if (version !== PRESENCE_VERSION) return { ok: false, reason: version > PRESENCE_VERSION ? 'version' : 'malformed' }
    const discoveryKey = b4a.from(c.fixed32.decode(state))
    const writerKey = b4a.from(c.fixed32.decode(state))
    const name = c.string.decode(state)
    const color = c.string.decode(state)
    const flags = c.uint8.decode(state)
    if ((flags & ~(FLAG_ALIVE | FLAG_CURSOR)) !== 0) return { ok: false, reason: 'malformed' }
    if (name.length > MAX_NAME_LENGTH || color.length > MAX_COLOR_LENGTH) return { ok: false, reason: 'malformed' }
    let cursor: PresenceMessage['cursor'] = null
    if ((flags & FLAG_CURSOR) !== 0) {
      const anchor = c.buffer.decode(state)
      const head = c.buffer.decode(state)
      for (const p of [anchor, head]) {
        if (p.byteLength === 0 || p.byteLength > MAX_RELATIVE_POSITION_BYTES) return { ok: false, reason: 'malformed' }
      }
      cursor = { anchor: b4a.from(anchor), head: b4a.from(head) }
    }
    if (state.start !== state.end) return { ok: false, reason: 'malformed' }
    return { ok: true, message: { discoveryKey, writerKey, name, color, alive: (flags & FLAG_ALIVE) !== 0, cursor } }
  } catch {
    return { ok: false, reason: 'malformed' }
  }
}

/// A remote device's presence in one document, as the page shows it.
export interface PresencePeer {
  /// Writer key (hex) of the member this presence belongs to.
  writerKey: string
  /// Device (swarm) key (hex) it arrived from.
  device: string
  name: string
  color: string
  /// Cursor offsets in the current text (UTF-16), null when there is none
  /// or it points at text this device does not have yet.
  anchor: number | null
  head: number | null
  /// False once the peer left (closed the document, disconnected, timed out).
  online: boolean
}

interface PresenceEntry {
  writerKey: Uint8Array
  device: string
  name: string
  color: string
  anchorRel: Uint8Array | null
  headRel: Uint8Array | null
  anchor: number | null
  head: number | null
  online: boolean
  lastSeen: number
  connection: PresenceConnection | null
}

/// The presence of one open document: remote peers, and this device's cursor.
/// Emits `update` (PresencePeer[]) whenever a peer appears, moves, changes
/// name or colour, leaves, or when a text change moves its cursor offsets.
export class DocumentPresence extends EventEmitter<{ update: [peers: PresencePeer[]] }> {
  readonly doc: SwarmDocument
  readonly discoveryKey: Buffer
  readonly writerKey: Buffer
  private readonly entries = new Map<string, PresenceEntry>()
  /// The membership, refreshed when it changes; shown through projection().
  private members: Member[] = []
  private shown: MemberProjection
  /// Device keys (hex) of active members: they may receive our presence.
  memberDevices = new Set<string>()
  /// This device's cursor as relative positions.
  cursor: { anchor: Uint8Array; head: Uint8Array } | null = null
  private readonly onChange: (change: DocumentChange) => void
  private readonly onMembers: () => void
  private refreshing: Promise<void> = Promise.resolve()
  closed = false

  constructor(doc: SwarmDocument) {
    super()
    this.doc = doc
    this.discoveryKey = doc.discoveryKey
    this.writerKey = doc.writerKey
    this.shown = projectMembers([], this.writerKey, new Set())
    this.onChange = () => this.recompute()
    this.onMembers = () => void this.refreshMembers()
    doc.on('change', this.onChange)
    doc.on('members', this.onMembers)
  }

  /// Reload the membership cache (after open and on every `members` event).
  refreshMembers(): Promise<void> {
    const run = this.refreshing.then(async () => {
      if (this.closed || this.doc.closingOrClosed) return
      try {
        const members = await this.doc.members()
        this.members = members
        this.memberDevices = new Set(members.filter((m) => m.device !== null).map((m) => b4a.toString(m.device!, 'hex')))
        this.emitUpdate()
      } catch {
        // The document is closing; keep the last membership.
      }
    })
    this.refreshing = run
    return run
  }

  /// This device's own member record (name, colour), if it is a member.
  self(): Member | undefined {
    return this.members.find((m) => b4a.equals(m.key, this.writerKey))
  }

  /// The members as shown, with who is online (src/doc/member-projection.ts):
  /// what the page, `swarmpad members` and the cursors show.
  projection(): MemberProjection {
    return this.shown
  }

  /// Device keys (hex) with a live presence in this document: the network's
  /// one notion of "online".
  onlineDevices(): Set<string> {
    const out = new Set<string>()
    for (const e of this.entries.values()) if (e.online) out.add(e.device)
    return out
  }

  /// When a presence last arrived from `deviceHex` (ms), null when never while open.
  lastSeen(deviceHex: string): number | null {
    let best: number | null = null
    for (const e of this.entries.values()) if (e.device === deviceHex && (best === null || e.lastSeen > best)) best = e.lastSeen
    return best
  }

  /// Whether writer `writerKey` is an active member whose declared device is
  /// `device` (and no other member's): the only presences we accept.
  accepts(writerKey: Uint8Array, device: Uint8Array): boolean {
    const m = this.shown.byKey(b4a.toString(writerKey, 'hex'))
    return m !== undefined && !m.self && m.device !== null && b4a.equals(m.device, device)
  }

  /// Every peer seen while the document is open (offline ones too), named
  /// and coloured as the projection shows the member.
  peers(): PresencePeer[] {
    return [...this.entries.values()].map((e) => {
      const writerKey = b4a.toString(e.writerKey, 'hex')
      const m = this.shown.byKey(writerKey)
      return {
        writerKey,
        device: e.device,
        name: m?.name ?? e.name,
        color: m?.color ?? e.color,
        anchor: e.online ? e.anchor : null,
        head: e.online ? e.head : null,
        online: e.online
      }
    })
  }

  /// Peers that are online now.
  online(): PresencePeer[] {
    return this.peers().filter((p) => p.online)
  }

  private reproject(): void {
    this.shown = projectMembers(this.members, this.writerKey, this.onlineDevices())
  }

  /// Apply an accepted message from `connection`.
  receive(m: PresenceMessage, connection: PresenceConnection, now: number): void {
    const id = b4a.toString(m.writerKey, 'hex')
    let e = this.entries.get(id)
    if (!m.alive) {
      if (e !== undefined && e.online && e.connection === connection) this.goOffline(e)
      return
    }
    const anchorRel = m.cursor?.anchor ?? null
    const headRel = m.cursor?.head ?? null
    if (e === undefined) {
      e = {
        writerKey: b4a.from(m.writerKey),
        device: connection.remoteKey,
        name: m.name,
        color: m.color,
        anchorRel,
        headRel,
        anchor: null,
        head: null,
        online: true,
        lastSeen: now,
        connection
      }
      this.entries.set(id, e)
      this.offsets(e)
      this.emitUpdate()
      return
    }
    const changed =
      !e.online ||
      e.name !== m.name ||
      e.color !== m.color ||
      e.device !== connection.remoteKey ||
      !sameBytes(e.anchorRel, anchorRel) ||
      !sameBytes(e.headRel, headRel)
    e.lastSeen = now
    e.connection = connection
    if (!changed) return
    e.online = true
    e.name = m.name
    e.color = m.color
    e.device = connection.remoteKey
    e.anchorRel = anchorRel
    e.headRel = headRel
    this.offsets(e)
    this.emitUpdate()
  }

  /// Mark every peer that came over `connection` offline (it closed).
  dropConnection(connection: PresenceConnection): void {
    let changed = false
    for (const e of this.entries.values()) {
      if (e.online && e.connection === connection) {
        this.goOffline(e, false)
        changed = true
      }
    }
    if (changed) this.emitUpdate()
  }

  /// Mark peers not heard from within PRESENCE_TIMEOUT_MS offline.
  expire(now: number): void {
    let changed = false
    for (const e of this.entries.values()) {
      if (e.online && now - e.lastSeen > PRESENCE_TIMEOUT_MS) {
        this.goOffline(e, false)
        changed = true
      }
    }
    if (changed) this.emitUpdate()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.doc.off('change', this.onChange)
    this.doc.off('members', this.onMembers)
    for (const e of this.entries.values()) this.goOffline(e, false)
    this.emitUpdate()
    this.removeAllListeners()
  }

  private goOffline(e: PresenceEntry, emit = true): void {
    e.online = false
    e.connection = null
    e.anchor = e.head = null
    if (emit) this.emitUpdate()
  }

  private offsets(e: PresenceEntry): boolean {
    if (this.doc.closingOrClosed) return false
    const anchor = e.anchorRel === null ? null : this.doc.offsetOf(e.anchorRel)
    const head = e.headRel === null ? null : this.doc.offsetOf(e.headRel)
    const changed = anchor !== e.anchor || head !== e.head
    e.anchor = anchor
    e.head = head
    return changed
  }

  /// The text changed: cursors that moved are announced.
  private recompute(): void {
    let changed = false
    for (const e of this.entries.values()) {
      if (e.online && this.offsets(e)) changed = true
    }
    if (changed) this.emitUpdate()
  }

  private emitUpdate(): void {
    this.reproject()
    if (this.listenerCount('update') > 0) this.emit('update', this.peers())
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b
  return b4a.equals(a, b)
}

/// Counters of what the presence channel received.
export interface PresenceStats {
  received: number
  accepted: number
  sent: number
  dropped: Record<PresenceDropReason, number>
}

export function emptyPresenceStats(): PresenceStats {
  return {
    received: 0,
    accepted: 0,
    sent: 0,
    dropped: { oversized: 0, malformed: 0, version: 0, identity: 0, 'unknown-document': 0, rate: 0 }
  }
}

/// The presence channel on one connection. Messages are carried as raw bytes
/// and decoded here, so a malformed one can never make Protomux destroy the
/// connection (it would if a channel encoding threw).
export class PresenceConnection {
  readonly connection: SwarmConnection
  /// The remote device key (hex): Noise authenticated it during the handshake.
  readonly remoteKey: string
  readonly remotePublicKey: Buffer
  private readonly channel: ProtomuxChannel | null
  private readonly message: ProtomuxMessage<Uint8Array> | null
  private tokens = MAX_PRESENCE_MESSAGES_PER_SECOND
  private refilled = Date.now()
  closed = false

  constructor(
    connection: SwarmConnection,
    handlers: { onmessage(bytes: Uint8Array, from: PresenceConnection): void; onopen(from: PresenceConnection): void; onclose(from: PresenceConnection): void }
  ) {
    this.connection = connection
    this.remotePublicKey = connection.remotePublicKey
    this.remoteKey = b4a.toString(connection.remotePublicKey, 'hex')
    const mux = Protomux.from(connection)
    const channel = mux.createChannel({
      protocol: PRESENCE_PROTOCOL,
      onopen: () => handlers.onopen(this),
      onclose: () => {
        this.closed = true
        handlers.onclose(this)
      }
    })
    this.channel = channel
    if (channel === null) {
      this.message = null
      this.closed = true
      return
    }
    this.message = channel.addMessage<Uint8Array>({
      encoding: c.raw,
      onmessage: (bytes) => {
        try {
          handlers.onmessage(bytes, this)
        } catch {
          // Never let one message take the connection down.
        }
      }
    })
    channel.open()
  }

  get opened(): boolean {
    return this.channel !== null && this.channel.opened && !this.closed
  }

  /// Take one token from the rate bucket; false when the peer sends too fast.
  take(now: number): boolean {
    const elapsed = now - this.refilled
    if (elapsed > 0) {
      this.tokens = Math.min(MAX_PRESENCE_MESSAGES_PER_SECOND, this.tokens + (elapsed * MAX_PRESENCE_MESSAGES_PER_SECOND) / 1000)
      this.refilled = now
    }
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /// Send one encoded message (tests also send hostile bytes through this).
  sendRaw(bytes: Uint8Array): boolean {
    if (!this.opened || this.message === null) return false
    this.message.send(bytes)
    return true
  }

  close(): void {
    this.closed = true
    this.channel?.close()
  }
}
