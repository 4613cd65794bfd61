// Invites, joining, re-keying and following a re-key.
//
// Writer and owner-device invites use blind-pairing over the daemon's
// Hyperswarm: the invite code holds a fresh key pair's seed and the
// document's discovery key; the joining device (candidate) sends its writer
// key for the document, signed with the invite key pair and encrypted; the
// device that created the invite (the only one holding its public key)
// checks it, appends `add-writer`, and answers with the document key and
// encryption key. Read-only invites hold the document key and encryption key
// themselves: no pairing, no network, nothing written.
//
// A re-key (after removing a member) makes a successor document, seeds it
// with the current text, seals a one-time pairing invite for the successor to
// each remaining member's writer key, and writes a signed `moved` block in the
// old document. Every device watches its documents for `moved`: a remaining
// member opens its box and pairs with the successor like any joiner; its
// library entry then points at the successor under the same name.
import BlindPairing, { type PairingMember } from 'blind-pairing'
import { type MemberRequest } from 'blind-pairing-core'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import z32 from 'z32'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Resource } from '../resource.js'
import { BLOCK_VERSION } from '../doc/blocks.js'
import { SwarmpadError, errorMessage } from '../errors.js'
import type { DocumentService, OpenDocument, Swarmpad } from '../swarmpad.js'
import { Library, type LibraryEntry } from '../storage/library.js'
import { formatKey, fromHex, toHex } from '../storage/keys.js'
import { SwarmDocument } from '../sync/document.js'
import { activeMembers, activeOwners, findMember, type Member } from '../doc/membership.js'
import { MAX_OWNER_DEVICES } from '../limits.js'
import { decodeInvite, encodeInvite, isExpired, type InviteRole } from './code.js'
import { deriveWriterKey, sealTo, writerPublicKey } from './crypto.js'
import { InviteStore, inviteInfo, newInviteRecord, type StoredInvite } from './store.js'
import { resolveMember } from './resolve.js'
import { PairingCandidates } from './candidate.js'
import { RekeyFollower } from './follow.js'
import { chooseName, encodeSealedInvite, MOVING, namespaceFor, newEntry, shortId, successorEntry, waitWritable } from './successor.js'
import { DEFAULT_INVITE_EXPIRY, DEFAULT_JOIN_TIMEOUT, DEFAULT_REKEY_EXPIRY, MAX_INVITE_EXPIRY, MIN_WRITABLE_WAIT, PROGRESS_INTERVAL, HOUSEKEEPING_INTERVAL, STATUS_CANCELLED, STATUS_EXPIRED, STATUS_REJECTED, STATUS_USED, type CreatedInvite, type InviteInfo, type InvitesEvents, type InvitesOptions, type JoinOptions, type JoinStage, type PairingSwarm, type RekeyResult, type Retired } from './invite-types.js'

export * from './invite-types.js'
export { carryOver, decodeSealedInvite, encodeSealedInvite, successorEntry, waitWritable } from './successor.js'

/// Invites of this device, joining with a code, re-keying, and following re-keys.
///
/// Events: `invite-used` (InviteInfo), `joined` (LibraryEntry), `rekeyed`
/// (RekeyResult), `following` (MovedEvent: this device noticed a re-key and
/// is pairing with the successor; edits made from now on are carried over),
/// `moved` (MovedEvent: this device followed a re-key; the
/// name now opens the successor), `moved-away` (MovedEvent: the document moved
/// without this device: it was removed, or is a reader), `follow-error` (Error).
export class Invites extends Resource<InvitesEvents> {
  readonly swarmpad: Swarmpad
  readonly swarm: PairingSwarm
  private readonly options: InvitesOptions
  private readonly store: InviteStore
  private pairing!: BlindPairing
  private readonly members = new Map<string, PairingMember>()
  private readonly retired = new Map<string, Retired>()
  private readonly locks = new Map<string, Promise<void>>()
  private readonly rekeying = new Set<string>()
  private readonly candidates: PairingCandidates
  private readonly follower: RekeyFollower
  private readonly aborter = new AbortController()
  private housekeeping: NodeJS.Timeout | null = null
  private chores: Promise<void> = Promise.resolve()
  /// Each open document is watched for a re-key; when one closes, the
  /// network layer leaves its topic, which ends our pairing sessions on it
  /// too: join them again.
  private readonly service: DocumentService = {
    opened: (open: OpenDocument) => this.follower.watch(open),
    closed: () => void setTimeout(() => void this.chore(), 50).unref()
  }
  private detach: (() => void) | null = null

  constructor(swarmpad: Swarmpad, swarm: PairingSwarm, options: InvitesOptions = {}) {
    super()
    this.swarmpad = swarmpad
    this.swarm = swarm
    this.options = options
    this.store = new InviteStore(join(swarmpad.paths.home, 'invites.json'))
    this.candidates = new PairingCandidates(() => this.pairing, this.aborter.signal, () => this.now())
    this.follower = new RekeyFollower({
      swarmpad,
      swarm,
      candidates: this.candidates,
      signal: this.aborter.signal,
      now: () => this.now(),
      busy: (keyHex) => this.rekeying.has(keyHex),
      closing: () => this.closingOrClosed,
      // (TypeScript cannot narrow a generic tuple against EventEmitter's map.)
      emit: (event, ...args) => void (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args)
    })
  }

  private now(): number {
    return (this.options.now ?? Date.now)()
  }

  protected override async _open(): Promise<void> {
    await this.swarmpad.ready()
    await this.store.load()
    await this.store.prune(this.now())
    this.pairing = new BlindPairing(this.swarm, this.options.poll !== undefined ? { poll: this.options.poll } : {})
    await this.pairing.ready()
    await this.chore()
    this.detach = this.swarmpad.attach(this.service)
    this.housekeeping = setInterval(() => void this.chore(), HOUSEKEEPING_INTERVAL)
    this.housekeeping.unref()
  }

  protected override async _close(): Promise<void> {
    this.aborter.abort()
    if (this.housekeeping) clearInterval(this.housekeeping)
    this.detach?.()
    await this.chores.catch(() => {})
    this.members.clear()
    if (this.pairing) await this.pairing.close().catch(() => {})
    for (const r of this.retired.values()) {
      await r.discovery.destroy().catch(() => {})
      await r.doc.close().catch(() => {})
    }
    this.retired.clear()
  }

  private assertOpen(): void {
    if (!this.opened || this.closingOrClosed) throw new SwarmpadError('CLOSED', 'invites are not open')
  }

  // --- creating, listing, cancelling ---

  /// Make an invite for a document (by local name or key).
  ///
  /// `writer` and `owner` invites are one-time, expire (default 7 days), and
  /// need this device to be an owner: it alone can answer them. A `reader`
  /// invite holds the document's keys: anyone with the code can read the
  /// document until a re-key; it cannot be listed, used up or cancelled.
  async create(docNameOrKey: string, opts: { role?: InviteRole; expiresMs?: number } = {}): Promise<CreatedInvite> {
    this.assertOpen()
    const role = opts.role ?? 'writer'
    if (role !== 'writer' && role !== 'owner' && role !== 'reader') {
      throw new SwarmpadError('BAD_ARGUMENT', `unknown invite role "${String(role)}"; use writer, owner or reader`)
    }
    const expiresMs = opts.expiresMs ?? DEFAULT_INVITE_EXPIRY
    if (!Number.isInteger(expiresMs) || expiresMs < 1000 || expiresMs > MAX_INVITE_EXPIRY) {
      throw new SwarmpadError('BAD_ARGUMENT', `an invite expires after 1 second to 365 days; got ${String(expiresMs)} ms`)
    }
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const m = await doc.membership()
    if (m.movedTo !== null) {
      throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" moved to a successor after a re-key; invite to the successor instead`)
    }
    const expires = Math.floor((this.now() + expiresMs) / 1000) * 1000
    if (role === 'reader') {
      const code = encodeInvite({ role: 'reader', key: doc.key, encryptionKey: doc.encryptionKey, expires })
      return { id: shortId(createHash('sha256').update(code).digest()), code, role, expires, doc: formatKey(doc.key) }
    }
    const self = await doc.self()
    if (self === null || self.role !== 'owner') {
      throw new SwarmpadError('NOT_OWNER', `only an owner device can invite ${role === 'owner' ? 'owner devices' : 'writers'} to "${entry.name}"; this device is ${self ? 'a writer' : entry.role === 'reader' ? 'a reader' : 'not a member'}`)
    }
    if (role === 'owner' && activeOwners(m).length >= MAX_OWNER_DEVICES) {
      throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" already has ${MAX_OWNER_DEVICES} owner devices, the most a document can have`)
    }
    const record = this.newRecord(doc.key, doc.discoveryKey, role, expires)
    await this.store.add(record)
    await this.chore()
    await this.announced(record.discoveryKey)
    return { id: record.id, code: record.code, role, expires, doc: formatKey(doc.key) }
  }

  private newRecord(key: Uint8Array, discoveryKey: Uint8Array, role: 'writer' | 'owner', expires: number, rekey?: StoredInvite['rekey']): StoredInvite {
    return newInviteRecord(key, discoveryKey, role, expires, this.now(), rekey)
  }

  /// Wait (briefly) until the pairing topic is announced, so a code handed
  /// out now is answered at once.
  private async announced(discoveryKeyHex: string): Promise<void> {
    const member = this.members.get(discoveryKeyHex)
    if (!member) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([member.flushed().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 5000)))])
    clearTimeout(timer)
  }

  /// This device's writer and owner-device invites, of one document or of all.
  list(docNameOrKey?: string): InviteInfo[] {
    this.assertOpen()
    const key = docNameOrKey === undefined ? null : this.swarmpad.library.resolve(docNameOrKey).key
    return this.store
      .all()
      .filter((r) => key === null || r.doc === key)
      .sort((a, b) => a.created - b.created)
      .map((r) => this.info(r))
  }

  private info(r: StoredInvite): InviteInfo {
    return inviteInfo(r, this.now(), this.swarmpad.library.find(r.doc)?.name ?? null)
  }

  /// Cancel a pending invite by its id (or a unique prefix of at least 4
  /// characters). A device that tries it later is told it was cancelled.
  async cancel(docNameOrKey: string, id: string): Promise<InviteInfo> {
    this.assertOpen()
    const key = this.swarmpad.library.resolve(docNameOrKey).key
    const text = typeof id === 'string' ? id.trim().toLowerCase() : ''
    const mine = this.store.all().filter((r) => r.doc === key)
    const matches = text.length >= 4 ? mine.filter((r) => r.id === text || r.id.startsWith(text) || r.code === text) : []
    if (matches.length !== 1) {
      const known = mine.filter((r) => r.state === 'pending').map((r) => r.id)
      const why = matches.length > 1 ? `"${id}" matches ${matches.length} invites; give more characters` : `no invite "${id}" for this document`
      throw new SwarmpadError('BAD_ARGUMENT', `${why}${known.length ? ` (pending: ${known.join(', ')})` : ''}; see \`swarmpad invites\``)
    }
    const rec = matches[0]!
    return this.withLock(rec.doc, async () => {
      const current = this.store.find((r) => r.inviteId === rec.inviteId)!
      if (current.state === 'used') throw new SwarmpadError('BAD_ARGUMENT', `invite ${rec.id} was already used; remove the member instead`)
      if (current.state === 'cancelled') return this.info(current)
      return this.info(await this.store.update(rec.inviteId, { state: 'cancelled', cancelledAt: this.now() }))
    })
  }

  // --- the owner's side of pairing ---

  /// Start or stop pairing topics, forget old invites, serve retired documents.
  private chore(): Promise<void> {
    const run = this.chores.then(async () => {
      if (this.closingOrClosed) return
      await this.store.prune(this.now())
      await this.rejoinLostTopics()
      await this.syncMembers()
      await this.serveRetired()
    })
    this.chores = run.catch((err) => {
      if (!this.closingOrClosed) this.emit('follow-error', err)
    })
    return this.chores
  }

  private topicLost(discoveryKey: Uint8Array): boolean {
    if (!this.swarm.status) return false
    const status = this.swarm.status(discoveryKey)
    return status === null || status.destroyed
  }

  /// Drop pairing members and retired documents whose topic someone left;
  /// syncMembers() and serveRetired() then join again.
  private async rejoinLostTopics(): Promise<void> {
    for (const [dk, member] of [...this.members]) {
      if (!this.topicLost(fromHex(dk))) continue
      this.members.delete(dk)
      await member.close().catch(() => {})
    }
    for (const [key, r] of [...this.retired]) {
      if (!this.topicLost(r.doc.discoveryKey)) continue
      this.retired.delete(key)
      await r.discovery.destroy().catch(() => {})
      await r.doc.close().catch(() => {})
    }
  }

  /// One blind-pairing member per document with an invite that has not
  /// expired (used and cancelled ones too, so a late attempt gets its answer).
  private async syncMembers(): Promise<void> {
    const now = this.now()
    const wanted = new Set(this.store.all().filter((r) => !isExpired(r, now)).map((r) => r.discoveryKey))
    for (const [dk, member] of [...this.members]) {
      if (wanted.has(dk)) continue
      this.members.delete(dk)
      await member.close().catch(() => {})
    }
    for (const dk of wanted) {
      if (this.members.has(dk) || this.closingOrClosed) continue
      try {
        const member = this.pairing.addMember({ discoveryKey: fromHex(dk), onadd: (request) => this.onRequest(dk, request) })
        this.members.set(dk, member)
      } catch (err) {
        this.emit('follow-error', err)
      }
    }
  }

  private async onRequest(discoveryKeyHex: string, request: MemberRequest): Promise<void> {
    if (this.closingOrClosed) return
    const inviteId = toHex(request.inviteId)
    const rec = this.store.find((r) => r.inviteId === inviteId && r.discoveryKey === discoveryKeyHex)
    // Not an invite of this device: stay silent (another owner device may hold it).
    if (rec === undefined) return
    try {
      request.open(fromHex(rec.publicKey))
    } catch {
      return // not made with this invite's key pair
    }
    const writerKey = request.userData
    const answer = await this.withLock(rec.doc, () => this.answer(rec.inviteId, writerKey)).catch((err) => {
      this.emit('follow-error', err)
      return { status: STATUS_REJECTED } as const
    })
    if ('key' in answer) request.confirm(answer)
    else request.deny({ status: answer.status })
  }

  /// Decide a request for one of this device's invites. Called under the document's lock.
  private async answer(inviteId: string, writerKey: Buffer | null): Promise<{ key: Uint8Array; encryptionKey: Uint8Array } | { status: number }> {
    const rec = this.store.find((r) => r.inviteId === inviteId)
    if (rec === undefined || writerKey === null || writerKey.length !== 32) return { status: STATUS_REJECTED }
    const writerHex = toHex(writerKey)
    if (rec.state === 'cancelled') return { status: STATUS_CANCELLED }
    if (rec.state === 'used' && rec.usedBy !== writerHex) return { status: STATUS_USED }
    if (rec.state === 'pending' && isExpired(rec, this.now())) return { status: STATUS_EXPIRED }
    const entry = this.swarmpad.library.find(rec.doc)
    if (entry === undefined) return { status: STATUS_REJECTED }
    const { doc } = await this.swarmpad.open(entry.name)
    if (rec.state === 'used') return { key: doc.key, encryptionKey: doc.encryptionKey } // the same device asking again
    const m = await doc.membership()
    if (m.movedTo !== null) return { status: STATUS_REJECTED }
    const self = await doc.self()
    if (self === null || self.role !== 'owner') return { status: STATUS_REJECTED }
    if (!rec.rekey && this.options.approve) {
      const ok = await this.options.approve({ doc: formatKey(doc.key), name: entry.name, role: rec.role, writerKey: formatKey(writerKey), invite: rec.id })
      if (!ok) return { status: STATUS_REJECTED }
      if (this.store.find((r) => r.inviteId === inviteId)?.state !== 'pending') return { status: STATUS_REJECTED }
    }
    const existing = findMember(m, writerKey)
    if (existing === undefined || existing.removed || existing.role !== rec.role) {
      try {
        await doc.addMember(writerKey, rec.role, typeof rec.rekey?.client === 'number' && doc.format >= 2 ? rec.rekey.client : null)
      } catch (err) {
        this.emit('follow-error', new SwarmpadError('PAIRING_REJECTED', `could not add the device invited by ${rec.id}: ${errorMessage(err)}`))
        return { status: STATUS_REJECTED }
      }
    }
    const used = await this.store.update(inviteId, { state: 'used', usedBy: writerHex, usedAt: this.now() })
    this.emit('invite-used', this.info(used))
    if (used.rekey) void this.chore()
    return { key: doc.key, encryptionKey: doc.encryptionKey }
  }

  // --- joining ---

  /// Join a document with an invite code. Resolves with its library entry once
  /// it is in the library (and, for writer and owner invites, once this
  /// device is a writer, unless that takes longer than the time left: then
  /// it becomes writable when it syncs with an owner).
  ///
  /// Fails before any network traffic on a malformed code (INVALID_INVITE),
  /// an expired one (INVITE_EXPIRED) or a name already taken (DOC_EXISTS); then
  /// with INVITE_USED, INVITE_EXPIRED, INVITE_CANCELLED, PAIRING_REJECTED, or
  /// TIMEOUT when no owner device answered. A failed join leaves nothing behind.
  async join(code: string, opts: JoinOptions = {}): Promise<LibraryEntry> {
    this.assertOpen()
    const started = this.now()
    const progress = (stage: JoinStage, message: string) => opts.onProgress?.({ stage, message, elapsedMs: this.now() - started })
    progress('checking', 'checking the invite')
    const invite = decodeInvite(code)
    if (isExpired(invite, this.now())) {
      throw new SwarmpadError('INVITE_EXPIRED', `this invite expired on ${new Date(invite.expires).toISOString()}; ask for a new one`)
    }
    const library = this.swarmpad.library
    const discoveryKey = invite.role === 'reader' ? crypto.discoveryKey(invite.key) : invite.discoveryKey
    const already = library.list().find((e) => b4a.equals(crypto.discoveryKey(fromHex(e.key)), discoveryKey))
    if (already) throw new SwarmpadError('DOC_EXISTS', `this document is already in the library as "${already.name}"`)
    const name = chooseName(this.swarmpad.library, opts.name, discoveryKey)
    const namespace = invite.role === 'reader' ? Library.newNamespace() : namespaceFor(invite.seed)

    if (invite.role === 'reader') {
      const entry = newEntry(name, invite.key, namespace, invite.encryptionKey, 'reader', this.now())
      await library.add(entry)
      progress('done', `joined "${name}" as a reader`)
      this.emit('joined', entry)
      return entry
    }

    const writerKey = await deriveWriterKey(this.swarmpad.store, namespace)
    progress('waiting-for-owner', 'waiting for the device that created the invite to answer (it must be online)')
    const timeoutMs = opts.timeoutMs ?? DEFAULT_JOIN_TIMEOUT
    const waiting = setInterval(() => {
      const secs = Math.round((this.now() - started) / 1000)
      progress('waiting-for-owner', `still waiting for the device that created the invite (${secs} s of ${Math.round(timeoutMs / 1000)} s)`)
    }, PROGRESS_INTERVAL)
    let auth: { key: Buffer; encryptionKey: Buffer }
    try {
      auth = await this.candidates.pair(invite, writerKey, { deadline: started + timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) })
    } finally {
      clearInterval(waiting)
    }
    progress('accepted', 'the owner device accepted this device')

    let entry = newEntry(name, auth.key, namespace, auth.encryptionKey, invite.role, this.now())
    if (library.find(name)) entry = { ...entry, name: chooseName(this.swarmpad.library, undefined, discoveryKey) } // taken while pairing
    await library.add(entry)
    progress('syncing', 'syncing the document')
    const { doc } = await this.swarmpad.open(entry.name)
    if (!b4a.equals(doc.writerKey, writerKey)) {
      throw new SwarmpadError('INTERNAL', `the document opened with writer key ${formatKey(doc.writerKey)}, not the ${formatKey(writerKey)} sent when pairing`)
    }
    const wait = Math.max(MIN_WRITABLE_WAIT, started + timeoutMs - this.now())
    const writable = await waitWritable(doc, wait, opts.signal)
    if (writable) {
      await doc.setProfile({ name: opts.profile?.name, color: opts.profile?.color, device: b4a.from(this.swarm.keyPair.publicKey) }).catch((err) => {
        this.emit('follow-error', err)
      })
    }
    progress('done', writable ? `joined "${entry.name}" as ${invite.role === 'owner' ? 'an owner device' : 'a writer'}` : `joined "${entry.name}"; it becomes writable once it syncs with an owner device`)
    this.emit('joined', entry)
    return entry
  }

  // --- re-keying ---

  /// Remove a member and move the document to a successor with fresh keys
  /// (see README "Roles, invites, removal and re-key"). Owners only.
  /// `removed` null: nobody is removed, the document only moves to fresh
  /// keys in the newest format (`swarmpad upgrade` of a format 1 document).
  async rekey(docNameOrKey: string, removed: string | Uint8Array | null): Promise<RekeyResult> {
    this.assertOpen()
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    if (this.rekeying.has(entry.key)) throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" is being re-keyed already`)
    this.rekeying.add(entry.key)
    try {
      return await this.rekeyLocked(entry, removed)
    } finally {
      this.rekeying.delete(entry.key)
    }
  }

  private async rekeyLocked(entry: LibraryEntry, removed: string | Uint8Array | null): Promise<RekeyResult> {
    const { doc: old } = await this.swarmpad.open(entry.name)
    const self = await old.self()
    if (self === null || self.role !== 'owner') {
      throw new SwarmpadError('NOT_OWNER', `only an owner device can remove members of "${entry.name}"`)
    }
    const before = await old.membership()
    if (before.movedTo !== null) throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" already moved to a successor`)
    const target = removed === null ? null : resolveMember(before.members, removed)
    if (target !== null && b4a.equals(target.key, old.writerKey)) {
      throw new SwarmpadError('BAD_ARGUMENT', 'this device cannot re-key itself out; remove it from another owner device')
    }
    if (target === null && old.format >= BLOCK_VERSION) {
      throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" is already in format ${old.format}, the newest; nothing to upgrade`)
    }
    if (target !== null && !target.removed) await old.removeMember(target.key)
    await old.flush()

    const after = await old.membership()
    const remaining = activeMembers(after).filter((x) => !b4a.equals(x.key, old.writerKey))
    const publicKeys = await Promise.all(remaining.map((x) => writerPublicKey(old, x.key, 3000)))
    const own = findMember(after, old.writerKey)

    // The successor: fresh document key and encryption key, this device its
    // owner. It is seeded only once `moved` is in the old document (below).
    const namespace = Library.newNamespace()
    const encryptionKey = randomBytes(32)
    const successor = new SwarmDocument(this.swarmpad.store.namespace(namespace), { key: null, encryptionKey })
    let key: Buffer
    const sealed: Array<{ writer: Uint8Array; box: Uint8Array }> = []
    const unreachable: string[] = []
    try {
      await successor.ready()
      key = successor.key
      const discoveryKey = successor.discoveryKey
      const expires = Math.floor((this.now() + (this.options.rekeyExpiresMs ?? DEFAULT_REKEY_EXPIRY)) / 1000) * 1000
      const records: Array<{ member: Member; publicKey: Buffer; record: StoredInvite }> = []
      remaining.forEach((member, i) => {
        const publicKey = publicKeys[i]
        if (!publicKey) unreachable.push(formatKey(member.key))
        else records.push({ member, publicKey, record: this.newRecord(key, discoveryKey, member.role, expires, { from: entry.key, member: toHex(member.key) }) })
      })

      const keyHex = toHex(key)
      // Hold the successor's lock: remaining members may ask to join as soon as
      // they see `moved`, and must wait until the library points at it.
      await this.withLock(keyHex, async () => {
        // The seed: the text as it is now, with each member's Yjs clock in it.
        // From here on this device takes no edit into the old document (its
        // pages keep theirs and send them to the successor). Each remaining
        // member gets its clock with its invite, and carries over exactly its
        // own edits past it: those that had not reached this device yet, and
        // those it types until its device has moved.
        old.freeze(MOVING)
        const seed = old.seedPoint()
        // Format v2: the seed is the old document's whole state, and each
        // follower carries its old client (its late edits go over exactly).
        const exact = seed.state !== null && successor.format >= 2
        if (exact) for (const r of records) r.record.rekey = { ...r.record.rekey!, client: r.member.clientId }
        try {
          const stored: StoredInvite[] = []
          for (const { member, publicKey, record } of records) {
            try {
              sealed.push({ writer: member.key, box: sealTo(publicKey, encodeSealedInvite(z32.decode(record.code), seed.clocks.get(member.clientId) ?? 0)) })
              stored.push(record)
            } catch {
              unreachable.push(formatKey(member.key))
            }
          }
          await this.store.addMany(stored)
          await this.chore()
          await old.markMoved(key, sealed)
        } catch (err) {
          // Nothing moved: the old document takes edits again.
          old.thaw()
          await this.store.remove((r) => r.doc === keyHex).catch(() => {})
          await this.chore().catch(() => {})
          throw err
        }
        if (exact) await successor.seed(seed.state!)
        // As text (one block where it fits, so followers can tell it apart).
        else if (seed.text.length > 0) await successor.replaceText(seed.text).durable
        await successor.setProfile({ name: own?.name ?? '', color: own?.color ?? '', device: b4a.from(this.swarm.keyPair.publicKey) })
        await successor.close()
        const current = this.swarmpad.library.resolve(entry.name)
        const next = successorEntry(current, { key: keyHex, namespace, encryptionKey: toHex(encryptionKey), role: 'owner' }, this.now())
        await this.swarmpad.moveDocument(entry.name, next)
        await this.chore()
        await this.swarmpad.open(entry.name)
      })
    } finally {
      await successor.close()
    }
    const result: RekeyResult = {
      name: entry.name,
      key: formatKey(key),
      previous: formatKey(fromHex(entry.key)),
      removed: target === null ? null : formatKey(target.key),
      sealed: sealed.map((s) => formatKey(s.writer)),
      unreachable
    }
    this.emit('rekeyed', result)
    return result
  }

  /// Keep serving an old document (open, on its topic) while any invite a
  /// re-key sealed in it is still pending, so remaining members that were
  /// offline still find the `moved` block.
  private async serveRetired(): Promise<void> {
    const now = this.now()
    const wanted = new Map<string, { key: string; namespace: string; encryptionKey: string }>()
    for (const r of this.store.all()) {
      if (!r.rekey || r.state !== 'pending' || isExpired(r, now)) continue
      for (const e of this.swarmpad.library.list()) {
        const prev = e.previous?.find((p) => p.key === r.rekey!.from)
        if (prev && !this.swarmpad.library.find(prev.key)) wanted.set(prev.key, prev)
      }
    }
    for (const [key, r] of this.retired) {
      if (wanted.has(key)) continue
      this.retired.delete(key)
      await r.discovery.destroy().catch(() => {})
      await r.doc.close().catch(() => {})
    }
    for (const [key, prev] of wanted) {
      if (this.retired.has(key) || this.closingOrClosed) continue
      const doc = new SwarmDocument(this.swarmpad.store.namespace(prev.namespace), { key: fromHex(prev.key), encryptionKey: fromHex(prev.encryptionKey) })
      doc.on('error', (err) => this.emit('follow-error', err))
      await doc.ready()
      const discovery = this.swarm.join(doc.discoveryKey, { server: true, client: true })
      this.retired.set(key, { doc, discovery })
    }
  }

  /// Documents this device keeps serving after re-keying them (keys, z32).
  get retiredDocuments(): string[] {
    return [...this.retired.keys()].map((k) => formatKey(fromHex(k)))
  }

  // --- helpers ---

  /// Run `task` with the lock of one document (by hex key).
  private async withLock<T>(keyHex: string, task: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(keyHex) ?? Promise.resolve()
    const run = prev.then(task, task)
    const tail = run.then(
      () => {},
      () => {}
    )
    this.locks.set(keyHex, tail)
    try {
      return await run
    } finally {
      if (this.locks.get(keyHex) === tail) this.locks.delete(keyHex)
    }
  }
}

export type { Member }
