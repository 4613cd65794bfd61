// Following a re-key: every device watches its documents for a `moved`
// block; a remaining member opens the invite sealed to it, pairs with the
// successor like any joiner, carries over its own edits the seed lacks, and
// its library entry then points at the successor under the same name.
import * as Y from 'yjs'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import z32 from 'z32'
import type { ChangeSet } from '@codemirror/state'
import { SwarmpadError } from '../errors.js'
import type { OpenDocument, Swarmpad } from '../swarmpad.js'
import type { LibraryEntry } from '../storage/library.js'
import { formatKey, toHex } from '../storage/keys.js'
import type { SwarmDocument } from '../sync/document.js'
import { findMember } from '../doc/membership.js'
import { decodeInvite, isExpired, type ParsedInvite } from './code.js'
import { deriveWriterKey, openSealed } from './crypto.js'
import type { PairingCandidates } from './candidate.js'
import type { InvitesEvents, MovedEvent, PairingSwarm } from './invite-types.js'
import { lateUpdates } from '../sync/carry.js'
import { carryOver, decodeSealedInvite, MOVING, namespaceFor, successorEntry, waitWritable } from './successor.js'

/// What following needs from Invites.
export interface FollowContext {
  swarmpad: Swarmpad
  swarm: PairingSwarm
  candidates: PairingCandidates
  signal: AbortSignal
  now(): number
  /// This device is re-keying the document itself (by hex key).
  busy(keyHex: string): boolean
  closing(): boolean
  emit<K extends 'following' | 'moved' | 'moved-away' | 'follow-error'>(event: K, ...args: InvitesEvents[K]): void
}

export class RekeyFollower {
  private readonly following = new Set<string>()
  private readonly watched = new WeakSet<SwarmDocument>()

  constructor(private readonly ctx: FollowContext) {}


  watch(open: OpenDocument): void {
    const doc = open.doc
    if (this.watched.has(doc)) return
    this.watched.add(doc)
    const check = () => {
      void this.checkMoved(doc).catch((err) => {
        if (!this.ctx.closing()) this.ctx.emit('follow-error', err)
      })
    }
    doc.on('members', check)
    doc.once('close', () => doc.off('members', check))
    check()
  }

  private async checkMoved(doc: SwarmDocument): Promise<void> {
    if (this.ctx.closing() || doc.closingOrClosed) return
    const keyHex = toHex(doc.key)
    if (this.ctx.busy(keyHex) || this.following.has(keyHex)) return
    const m = await doc.membership()
    if (m.movedTo === null) return
    const entry = this.ctx.swarmpad.library.find(keyHex)
    if (entry === undefined || entry.key !== keyHex) return
    const successor = toHex(m.movedTo.key)
    if (this.ctx.swarmpad.library.find(successor)) return
    const event: MovedEvent = { name: entry.name, from: formatKey(doc.key), to: formatKey(m.movedTo.key) }
    const mine = m.movedTo.sealed.find((s) => b4a.equals(s.writer, doc.writerKey))
    const keyPair = doc.autobase.local.keyPair
    const opened = mine && keyPair?.secretKey ? openSealed(mine.box, { publicKey: keyPair.publicKey, secretKey: keyPair.secretKey }) : null
    let invite: ParsedInvite | null = null
    let seedClock: number | null = null
    if (opened !== null) {
      try {
        const payload = decodeSealedInvite(opened)
        invite = decodeInvite(z32.encode(payload.code))
        seedClock = payload.seedClock
      } catch {
        invite = null
      }
    }
    if (invite === null || invite.role === 'reader' || isExpired(invite, this.ctx.now()) || !b4a.equals(invite.discoveryKey, crypto.discoveryKey(m.movedTo.key))) {
      if (entry.movedTo !== successor) {
        await this.ctx.swarmpad.library.update(entry.name, { movedTo: successor })
        this.ctx.emit('moved-away', event)
      }
      return
    }
    this.following.add(keyHex)
    try {
      await this.follow(entry, doc, invite, seedClock, m.movedTo.key, event)
      this.ctx.emit('moved', event)
    } finally {
      this.following.delete(keyHex)
    }
  }

  /// Pair with the successor using the invite sealed to this device, then
  /// point the library entry at it, carrying over this device's edits that
  /// the seed lacks (past `seedClock`; without it, those typed since the
  /// move was noticed).
  private async follow(entry: LibraryEntry, old: SwarmDocument, invite: ParsedInvite & { role: 'writer' | 'owner' }, seedClock: number | null, successorKey: Uint8Array, event: MovedEvent): Promise<void> {
    const noticed = old.text.toString()
    const started = Date.now()
    this.ctx.emit('following', event)
    const namespace = namespaceFor(invite.seed)
    const writerKey = await deriveWriterKey(this.ctx.swarmpad.store, namespace)
    const auth = await this.ctx.candidates.pair(invite, writerKey, { deadline: invite.expires })
    if (!b4a.equals(auth.key, successorKey)) throw new SwarmpadError('PEER_PROTOCOL', 'the successor answered with another key')
    const paired = Date.now()

    const current = this.ctx.swarmpad.library.find(entry.name)
    if (current === undefined || current.key !== entry.key) return // renamed or removed meanwhile
    const profile = old.closingOrClosed ? null : findMember(await old.membership(), old.writerKey) ?? null
    // Nothing typed from here on may stay behind in the old document: pages
    // keep such edits and send them to the successor.
    let carry: { before: string; after: string; changes: ChangeSet | null } = { before: noticed, after: noticed, changes: null }
    let late: Uint8Array[] | null = null
    if (!old.closingOrClosed) {
      old.freeze(MOVING)
      carry = (seedClock !== null ? await old.ownEditsSince(seedClock).catch(() => null) : null) ?? { before: noticed, after: old.text.toString(), changes: null }
      const own = seedClock !== null ? await old.ownUpdates(seedClock).catch(() => null) : null
      if (own !== null && seedClock !== null) late = lateUpdates(own, old.clientId, seedClock)
    }
    const next = successorEntry(current, { key: toHex(auth.key), namespace, encryptionKey: toHex(auth.encryptionKey), role: invite.role }, this.ctx.now())
    await this.ctx.swarmpad.moveDocument(entry.name, next)
    const { doc } = await this.ctx.swarmpad.open(entry.name)
    // The edits to carry exist only here (the old document is frozen): wait
    // for the successor to take this device's writes as long as it runs,
    // saying so now and then, rather than give up on them.
    for (let waited = 1; !(await waitWritable(doc, WRITABLE_REPORT_MS, this.ctx.signal)); waited++) {
      if (doc.closingOrClosed || this.ctx.signal?.aborted || this.ctx.closing()) return
      this.ctx.emit('follow-error', new SwarmpadError('UNAVAILABLE', `the successor of "${entry.name}" does not take this device's writes yet (${waited * WRITABLE_REPORT_MS / 1000} s); still waiting to carry its edits over`))
    }
    event.waited = { pairingMs: paired - started, writableMs: Date.now() - paired }
    await doc.setProfile({ name: profile?.name, color: profile?.color, device: b4a.from(this.ctx.swarm.keyPair.publicKey) })
    // This device's edits the seed lacks: exactly, where the successor was
    // seeded with the old state (format v2) and everything they build on
    // arrives in time; the rest placed as text into what it holds now.
    let carried = 0
    if (late !== null && late.length > 0) carried = await doc.carry(late, CARRY_WAIT_MS, this.ctx.signal)
    event.carried = { exact: carried, asText: false, ...(late === null ? { unknown: true } : {}) }
    if (late !== null && carried === late.length) return
    if (carried > 0 && seedClock !== null) {
      const rest = await old.ownEditsSince(resumeClock(late!, carried, old.clientId) ?? seedClock).catch(() => null)
      if (rest !== null) carry = rest
    }
    if (carry.after !== carry.before) {
      event.carried.asText = true
      await carryOver(doc, carry.before, carry.changes ?? carry.after)
    }
  }
}

/// How often a follower that waits for its successor to become writable says so.
const WRITABLE_REPORT_MS = 60_000

/// How long a follower waits for what its carried edits build on (other
/// followers' carried edits) before it places the rest as text.
const CARRY_WAIT_MS = 20_000

/// The clock of `me` from which `updates[carried..]` were not carried: where
/// the next one starts, or (a deletion only) where the carried ones end.
function resumeClock(updates: readonly Uint8Array[], carried: number, me: number): number | undefined {
  const next = Y.parseUpdateMeta(updates[carried]!).from.get(me)
  if (next !== undefined) return next
  let end: number | undefined
  for (const u of updates.slice(0, carried)) {
    const to = Y.parseUpdateMeta(u).to.get(me)
    if (to !== undefined) end = Math.max(end ?? 0, to)
  }
  return end
}
