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
import { createInvite, type CandidateRequest, type MemberRequest, type PairingAuth } from 'blind-pairing-core'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import c from 'compact-encoding'
import z32 from 'z32'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ChangeSet } from '@codemirror/state'
import { Resource } from '../resource.js'
import { SwarmpadError, errorMessage } from '../errors.js'
import type { OpenDocument, Swarmpad } from '../swarmpad.js'
import { checkDocumentName, Library, type LibraryEntry } from '../storage/library.js'
import { formatKey, fromHex, toHex } from '../storage/keys.js'
import { SwarmDocument } from '../sync/document.js'
import { activeMembers, activeOwners, findMember, type Member } from '../doc/membership.js'
import { changeSetOf, diffChanges, rebaseOnto } from '../doc/changes.js'
import { MAX_OWNER_DEVICES } from '../limits.js'
import { CODE_BYTES as INVITE_BYTES, decodeInvite, encodeInvite, isExpired, type InviteRole, type ParsedInvite } from './code.js'
import { deriveWriterKey, openSealed, sealTo, writerPublicKey } from './crypto.js'
import { InviteStore, type StoredInvite } from './store.js'
import { resolveMember } from './resolve.js'

/// Invites expire after this long unless told otherwise.
export const DEFAULT_INVITE_EXPIRY = 7 * 24 * 3600 * 1000
/// The longest expiry an invite may have.
export const MAX_INVITE_EXPIRY = 365 * 24 * 3600 * 1000
/// How long the invites a re-key seals to the remaining members stay valid.
export const DEFAULT_REKEY_EXPIRY = 30 * 24 * 3600 * 1000
/// How long join() waits for the device that created the invite, by default.
export const DEFAULT_JOIN_TIMEOUT = 120_000
/// After pairing, how long join() waits at least for the document to become writable.
const MIN_WRITABLE_WAIT = 15_000
/// How often join() reports that it is still waiting.
const PROGRESS_INTERVAL = 5000
/// The longest delay setTimeout takes.
const MAX_TIMER = 2 ** 31 - 1
/// How often expired invites are forgotten and pairing topics left.
const HOUSEKEEPING_INTERVAL = 60_000

/// blind-pairing's reply statuses: 1 rejected, 2 used, 3 expired. swarmpad
/// adds 4 for a cancelled invite (blind-pairing-core reports an unknown status
/// as a rejection and keeps the decrypted status in `request.response`).
const STATUS_REJECTED = 1
const STATUS_USED = 2
const STATUS_EXPIRED = 3
const STATUS_CANCELLED = 4

/// The parts of a Hyperswarm Invites uses (the network layer's swarm fits).
/// blind-pairing also uses `dht`, `connections`, `on`/`removeListener`.
export interface PairingSwarm {
  readonly keyPair: { publicKey: Uint8Array }
  readonly dht: object
  join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): { destroy(): Promise<void> }
  /// Hyperswarm's topic status: used to notice that someone called
  /// `swarm.leave(topic)`, which ends every session of the topic (ours too).
  status?(topic: Uint8Array): { readonly destroyed: boolean } | null
}

/// An invite as listed to people.
export interface InviteInfo {
  /// Short id: give it to cancel().
  id: string
  code: string
  role: 'writer' | 'owner'
  /// The document key (z32) and its local name (null when no longer in the library).
  doc: string
  name: string | null
  created: number
  expires: number
  state: 'pending' | 'used' | 'cancelled' | 'expired'
  /// Writer key (z32) of the device that used it.
  usedBy: string | null
  usedAt: number | null
  /// `rekey`: made by a re-key for one remaining member (sealed in the `moved` block).
  purpose: 'invite' | 'rekey'
}

export interface CreatedInvite {
  id: string
  code: string
  role: InviteRole
  /// ms since the epoch.
  expires: number
  /// The document key (z32).
  doc: string
}

export type JoinStage = 'checking' | 'waiting-for-owner' | 'accepted' | 'syncing' | 'done'

export interface JoinProgress {
  stage: JoinStage
  message: string
  elapsedMs: number
}

export interface JoinOptions {
  /// Local name for the document; default `shared-<6 characters of its id>`.
  name?: string
  /// This device's name and colour in the document (a profile block).
  profile?: { name: string; color?: string }
  onProgress?: (progress: JoinProgress) => void
  signal?: AbortSignal
  /// How long to wait for the device that created the invite (ms).
  timeoutMs?: number
}

/// What an owner device is asked before it lets a device in (see InvitesOptions.approve).
export interface PairingRequest {
  /// The document key (z32) and local name.
  doc: string
  name: string
  role: 'writer' | 'owner'
  /// The joining device's writer key (z32) and the invite's short id.
  writerKey: string
  invite: string
}

export interface InvitesOptions {
  /// Asked for every valid request before it is accepted; false rejects it
  /// (the invite stays usable). Default: accept. Not asked for re-key invites.
  approve?: (request: PairingRequest) => boolean | Promise<boolean>
  /// The clock (ms); tests move it.
  now?: () => number
  /// blind-pairing's DHT poll interval (ms); its default (about 7 minutes) when unset.
  poll?: number
  /// Expiry of the invites a re-key makes (ms).
  rekeyExpiresMs?: number
}

export interface RekeyResult {
  /// The local name, now pointing at the successor.
  name: string
  /// The successor's key and the old document's key (z32).
  key: string
  previous: string
  /// The removed member's writer key (z32).
  removed: string
  /// Remaining members the successor was sealed to (z32 writer keys).
  sealed: string[]
  /// Remaining members it could not be sealed to: their devices never wrote a
  /// block this device received, so their public key is unknown. They need a new invite.
  unreachable: string[]
}

export interface MovedEvent {
  name: string
  from: string
  to: string
}

interface Retired {
  doc: SwarmDocument
  discovery: { destroy(): Promise<void> }
}

/// Invites of this device, joining with a code, re-keying, and following re-keys.
///
/// Events: `invite-used` (InviteInfo), `joined` (LibraryEntry), `rekeyed`
/// (RekeyResult), `following` (MovedEvent: this device noticed a re-key and
/// is pairing with the successor; edits made from now on are carried over),
/// `moved` (MovedEvent: this device followed a re-key; the
/// name now opens the successor), `moved-away` (MovedEvent: the document moved
/// without this device: it was removed, or is a reader), `follow-error` (Error).
export class Invites extends Resource {
  readonly swarmpad: Swarmpad
  readonly swarm: PairingSwarm
  private readonly options: InvitesOptions
  private readonly store: InviteStore
  private pairing!: BlindPairing
  private readonly members = new Map<string, PairingMember>()
  private readonly retired = new Map<string, Retired>()
  private readonly locks = new Map<string, Promise<void>>()
  private readonly rekeying = new Set<string>()
  private readonly following = new Set<string>()
  private readonly candidatesClosing = new Map<string, Promise<void>>()
  private readonly watched = new WeakSet<SwarmDocument>()
  private readonly aborter = new AbortController()
  private housekeeping: NodeJS.Timeout | null = null
  private chores: Promise<void> = Promise.resolve()
  private readonly onDocumentOpen = (open: OpenDocument) => this.watch(open)
  /// The network layer leaves a document's topic when it closes; our
  /// sessions on that topic end with it: join again.
  private readonly onDocumentClose = () => {
    setTimeout(() => void this.chore(), 50).unref()
  }

  constructor(swarmpad: Swarmpad, swarm: PairingSwarm, options: InvitesOptions = {}) {
    super()
    this.swarmpad = swarmpad
    this.swarm = swarm
    this.options = options
    this.store = new InviteStore(join(swarmpad.paths.home, 'invites.json'))
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
    this.swarmpad.on('document-open', this.onDocumentOpen)
    this.swarmpad.on('document-close', this.onDocumentClose)
    for (const open of this.swarmpad.documents) this.watch(open)
    this.housekeeping = setInterval(() => void this.chore(), HOUSEKEEPING_INTERVAL)
    this.housekeeping.unref()
  }

  protected override async _close(): Promise<void> {
    this.aborter.abort()
    if (this.housekeeping) clearInterval(this.housekeeping)
    this.swarmpad.off('document-open', this.onDocumentOpen)
    this.swarmpad.off('document-close', this.onDocumentClose)
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
    const seed = randomBytes(32)
    const made = createInvite(key, { seed, discoveryKey, expires })
    return {
      id: shortId(made.id),
      inviteId: toHex(made.id),
      doc: toHex(key),
      discoveryKey: toHex(discoveryKey),
      role,
      seed: toHex(seed),
      publicKey: toHex(made.publicKey),
      code: encodeInvite({ role, seed, discoveryKey, expires }),
      created: this.now(),
      expires,
      state: 'pending',
      ...(rekey ? { rekey } : {})
    }
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
    const state = r.state === 'pending' && isExpired(r, this.now()) ? 'expired' : r.state
    return {
      id: r.id,
      code: r.code,
      role: r.role,
      doc: formatKey(fromHex(r.doc)),
      name: this.swarmpad.library.find(r.doc)?.name ?? null,
      created: r.created,
      expires: r.expires,
      state,
      usedBy: r.usedBy ? formatKey(fromHex(r.usedBy)) : null,
      usedAt: r.usedAt ?? null,
      purpose: r.rekey ? 'rekey' : 'invite'
    }
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
        await doc.addMember(writerKey, rec.role)
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
    const name = this.chooseName(opts.name, discoveryKey)
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
      auth = await this.pair(invite, writerKey, { deadline: started + timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) })
    } finally {
      clearInterval(waiting)
    }
    progress('accepted', 'the owner device accepted this device')

    let entry = newEntry(name, auth.key, namespace, auth.encryptionKey, invite.role, this.now())
    if (library.find(name)) entry = { ...entry, name: this.chooseName(undefined, discoveryKey) } // taken while pairing
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

  private chooseName(requested: string | undefined, discoveryKey: Uint8Array): string {
    const library = this.swarmpad.library
    if (requested !== undefined) {
      const problem = checkDocumentName(requested)
      if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${requested}": ${problem}`)
      if (library.find(requested)) throw new SwarmpadError('DOC_EXISTS', `a document named "${requested}" already exists; choose another name`)
      return requested
    }
    const base = `shared-${z32.encode(discoveryKey).slice(0, 6)}`
    for (let i = 1; ; i++) {
      const name = i === 1 ? base : `${base}-${i}`
      if (!library.find(name)) return name
    }
  }

  /// Run one blind-pairing request until an owner device answers it.
  private async pair(invite: { seed: Uint8Array; discoveryKey: Uint8Array }, writerKey: Uint8Array, opts: { deadline: number; signal?: AbortSignal }): Promise<{ key: Buffer; encryptionKey: Buffer }> {
    // blind-pairing allows one candidate per topic: let the last one finish closing.
    const dk = toHex(invite.discoveryKey)
    await this.candidatesClosing.get(dk)
    return new Promise((resolve, reject) => {
      let settled = false
      let timer: NodeJS.Timeout | undefined
      let candidate: { close(): Promise<void> } | null = null
      const signals = [this.aborter.signal, ...(opts.signal ? [opts.signal] : [])]
      const onAbort = () => finish(new SwarmpadError('CLOSED', 'joining was cancelled'))
      const finish = (err: Error | null, auth?: PairingAuth) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        for (const s of signals) s.removeEventListener('abort', onAbort)
        if (candidate) {
          const closing = candidate.close().catch(() => {})
          this.candidatesClosing.set(dk, closing)
          void closing.then(() => {
            if (this.candidatesClosing.get(dk) === closing) this.candidatesClosing.delete(dk)
          })
        }
        if (err) return reject(err)
        if (!auth || auth.key.length !== 32 || !auth.encryptionKey || auth.encryptionKey.length !== 32) {
          return reject(new SwarmpadError('PEER_PROTOCOL', 'the owner device answered without the document keys'))
        }
        resolve({ key: Buffer.from(auth.key), encryptionKey: Buffer.from(auth.encryptionKey) })
      }
      const onRejected = (request: CandidateRequest) => (err: Error & { code?: string }) => {
        // Only answers that decrypted with this invite count; anything else
        // (garbage, a reply for another request) is ignored and we keep waiting.
        const status = request.response?.status
        if (status === STATUS_CANCELLED) finish(new SwarmpadError('INVITE_CANCELLED', 'this invite was cancelled by the device that created it; ask for a new one'))
        else if (err.code === 'INVITE_USED') finish(new SwarmpadError('INVITE_USED', 'this invite was already used; an invite works once: ask for a new one'))
        else if (err.code === 'INVITE_EXPIRED') finish(new SwarmpadError('INVITE_EXPIRED', 'this invite has expired; ask for a new one'))
        else if (err.code === 'PAIRING_REJECTED') finish(new SwarmpadError('PAIRING_REJECTED', 'the owner device rejected this request (it may have been declined, or the document no longer accepts it)'))
      }
      for (const s of signals) {
        if (s.aborted) return onAbort()
        s.addEventListener('abort', onAbort)
      }
      const ms = Math.max(0, opts.deadline - this.now())
      // setTimeout cannot wait longer than 2^31-1 ms (a re-key invite waits up to 30 days): re-arm.
      const arm = () => {
        const left = opts.deadline - this.now()
        if (left > 0) {
          timer = setTimeout(arm, Math.min(left, MAX_TIMER))
          return
        }
        finish(new SwarmpadError('TIMEOUT', `no answer within ${Math.round(ms / 1000)} s from the device that created the invite; it must be online with swarmpad running: try again later`))
      }
      timer = setTimeout(arm, Math.min(ms, MAX_TIMER))
      try {
        const made = this.pairing.addCandidate({
          invite: { seed: invite.seed, discoveryKey: invite.discoveryKey },
          userData: b4a.from(writerKey),
          onadd: (auth) => finish(null, auth)
        })
        candidate = made
        // Answers arrive asynchronously: listening now misses none.
        made.request.on('rejected', onRejected(made.request))
        if (settled) void made.close().catch(() => {})
      } catch (err) {
        finish(new SwarmpadError('BAD_ARGUMENT', `already joining this document: ${errorMessage(err)}`))
      }
    })
  }

  // --- re-keying ---

  /// Remove a member and move the document to a successor with fresh keys
  /// (see README "Roles, invites, removal and re-key"). Owners only.
  async rekey(docNameOrKey: string, removed: string | Uint8Array): Promise<RekeyResult> {
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

  private async rekeyLocked(entry: LibraryEntry, removed: string | Uint8Array): Promise<RekeyResult> {
    const { doc: old } = await this.swarmpad.open(entry.name)
    const self = await old.self()
    if (self === null || self.role !== 'owner') {
      throw new SwarmpadError('NOT_OWNER', `only an owner device can remove members of "${entry.name}"`)
    }
    const before = await old.membership()
    if (before.movedTo !== null) throw new SwarmpadError('BAD_ARGUMENT', `"${entry.name}" already moved to a successor`)
    const target = resolveMember(before.members, removed)
    if (b4a.equals(target.key, old.writerKey)) {
      throw new SwarmpadError('BAD_ARGUMENT', 'this device cannot re-key itself out; remove it from another owner device')
    }
    if (!target.removed) await old.removeMember(target.key)
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
        // One block where it fits, so followers can tell it apart.
        if (seed.text.length > 0) await successor.replaceText(seed.text).durable
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
      removed: formatKey(target.key),
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

  // --- following a re-key ---

  private watch(open: OpenDocument): void {
    const doc = open.doc
    if (this.watched.has(doc)) return
    this.watched.add(doc)
    const check = () => {
      void this.checkMoved(doc).catch((err) => {
        if (!this.closingOrClosed) this.emit('follow-error', err)
      })
    }
    doc.on('members', check)
    doc.once('close', () => doc.off('members', check))
    check()
  }

  private async checkMoved(doc: SwarmDocument): Promise<void> {
    if (this.closingOrClosed || doc.closingOrClosed) return
    const keyHex = toHex(doc.key)
    if (this.rekeying.has(keyHex) || this.following.has(keyHex)) return
    const m = await doc.membership()
    if (m.movedTo === null) return
    const entry = this.swarmpad.library.find(keyHex)
    if (entry === undefined || entry.key !== keyHex) return
    const successor = toHex(m.movedTo.key)
    if (this.swarmpad.library.find(successor)) return
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
    if (invite === null || invite.role === 'reader' || isExpired(invite, this.now()) || !b4a.equals(invite.discoveryKey, crypto.discoveryKey(m.movedTo.key))) {
      if (entry.movedTo !== successor) {
        await this.swarmpad.library.update(entry.name, { movedTo: successor })
        this.emit('moved-away', event)
      }
      return
    }
    this.following.add(keyHex)
    try {
      await this.follow(entry, doc, invite, seedClock, m.movedTo.key, event)
      this.emit('moved', event)
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
    this.emit('following', event)
    const namespace = namespaceFor(invite.seed)
    const writerKey = await deriveWriterKey(this.swarmpad.store, namespace)
    const auth = await this.pair(invite, writerKey, { deadline: invite.expires })
    if (!b4a.equals(auth.key, successorKey)) throw new SwarmpadError('PEER_PROTOCOL', 'the successor answered with another key')

    const current = this.swarmpad.library.find(entry.name)
    if (current === undefined || current.key !== entry.key) return // renamed or removed meanwhile
    const profile = old.closingOrClosed ? null : findMember(await old.membership(), old.writerKey) ?? null
    // Nothing typed from here on may stay behind in the old document: pages
    // keep such edits and send them to the successor.
    let carry: { before: string; after: string; changes: ChangeSet | null } = { before: noticed, after: noticed, changes: null }
    if (!old.closingOrClosed) {
      old.freeze(MOVING)
      carry = (seedClock !== null ? await old.ownEditsSince(seedClock).catch(() => null) : null) ?? { before: noticed, after: old.text.toString(), changes: null }
    }
    const next = successorEntry(current, { key: toHex(auth.key), namespace, encryptionKey: toHex(auth.encryptionKey), role: invite.role }, this.now())
    await this.swarmpad.moveDocument(entry.name, next)
    const { doc } = await this.swarmpad.open(entry.name)
    if (!(await waitWritable(doc, 60_000, this.aborter.signal))) return
    await doc.setProfile({ name: profile?.name, color: profile?.color, device: b4a.from(this.swarm.keyPair.publicKey) })
    // This device's edits the seed lacks, placed into what the successor holds now.
    if (carry.after !== carry.before) await carryOver(doc, carry.before, carry.changes ?? carry.after)
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

/// What a `moved` block seals to each remaining member: its invite to the
/// successor (the code's bytes) and its Yjs clock in the seed (a uint).
export function encodeSealedInvite(code: Uint8Array, seedClock: number): Uint8Array {
  return b4a.concat([code, c.encode(c.uint, seedClock)])
}

/// The inverse of encodeSealedInvite(); a box holding only the code (made
/// before the clock was added) has no clock. Throws on anything else.
export function decodeSealedInvite(bytes: Uint8Array): { code: Uint8Array; seedClock: number | null } {
  if (bytes.length === INVITE_BYTES) return { code: bytes, seedClock: null }
  if (bytes.length < INVITE_BYTES) throw new SwarmpadError('INVALID_INVITE', 'the sealed invite is too short')
  const state = { start: 0, end: bytes.length - INVITE_BYTES, buffer: b4a.from(bytes.subarray(INVITE_BYTES)) }
  let seedClock: number
  try {
    seedClock = c.uint.decode(state)
  } catch {
    throw new SwarmpadError('INVALID_INVITE', 'the sealed invite has a truncated clock')
  }
  if (state.start !== state.end) throw new SwarmpadError('INVALID_INVITE', 'the sealed invite has trailing bytes')
  return { code: bytes.subarray(0, INVITE_BYTES), seedClock }
}

/// Why a document that is moving to a re-key's successor takes no more edits.
const MOVING = 'this document is moving to fresh keys (a re-key); edits made now go to the new copy in a moment'

/// The Corestore namespace a device uses for a document it joins with an
/// invite: derived from the invite secret, so a retry after a crash sends the
/// same writer key and the owner device confirms it again (an invite already
/// used by this very writer key is answered, not refused). Nothing is stored
/// until the pairing succeeded.
function namespaceFor(seed: Uint8Array): string {
  return createHash('sha256').update('swarmpad join namespace\0').update(seed).digest('hex').slice(0, 32)
}

function shortId(id: Uint8Array): string {
  return z32.encode(id).slice(0, 10)
}

/// The library entry of a re-key's successor, under the old entry's name:
/// the old document goes to `previous`. Nothing of the old document's own log
/// carries over: the successor's log starts empty (a `localLength` kept from
/// the old log made the successor's open report lost data).
export function successorEntry(current: LibraryEntry, successor: Pick<LibraryEntry, 'key' | 'namespace' | 'encryptionKey' | 'role'>, now: number): LibraryEntry {
  const { movedTo: _movedTo, localLength: _localLength, ...kept } = current
  return {
    ...kept,
    ...successor,
    previous: [...(current.previous ?? []), { key: current.key, namespace: current.namespace, encryptionKey: current.encryptionKey, movedAt: now }]
  }
}

function newEntry(name: string, key: Uint8Array, namespace: string, encryptionKey: Uint8Array, role: LibraryEntry['role'], now: number): LibraryEntry {
  return { name, key: toHex(key), namespace, encryptionKey: toHex(encryptionKey), role, created: now, lastOpened: now }
}

/// Resolves true once `doc` is writable, false after `ms` or on abort.
export async function waitWritable(doc: SwarmDocument, ms: number, signal?: AbortSignal): Promise<boolean> {
  const end = Date.now() + ms
  while (!doc.writable) {
    if (Date.now() >= end || signal?.aborted || doc.closingOrClosed) return false
    await doc.update().catch(() => {})
    if (doc.writable) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/// Apply the edits that turned `base` into `mine` to `doc`, rebased over the
/// difference between `base` and the document's current text.
///
/// The current text is read once the view is folded into it: a follower's
/// successor is writable as soon as the owner's add-writer block is in the
/// view (the seed comes before it in the owner's log), but the text shows the
/// seed only after the fold that follows. Rebasing over the unfolded, empty
/// text put the carried edit next to the seed in Yjs order, after the whole
/// seed about one time in two.
export async function carryOver(doc: SwarmDocument, base: string, mine: string | ChangeSet): Promise<void> {
  await doc.update().catch(() => {})
  if (doc.closingOrClosed) return
  const current = doc.text.toString()
  const ours = typeof mine === 'string' ? changeSetOf(diffChanges(base, mine), base.length) : mine
  const changes = rebaseOnto(base, ours, current)
  if (changes.length > 0) doc.edit(changes)
}

export type { Member }
