// The invites this device created: `invites.json` in the storage root.
//
// It holds invite secrets, so it stays on this device only: mode 0600,
// written atomically (temporary file, fsync, rename), never rewritten when it
// does not parse. Records of used and cancelled invites are kept until
// RECORD_TTL after their expiry, so a second use is answered "used" or
// "cancelled" instead of silence.
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { createInvite } from 'blind-pairing-core'
import z32 from 'z32'
import { formatKey, fromHex, toHex } from '../storage/keys.js'
import { encodeInvite, isExpired } from './code.js'
import type { InviteInfo } from './invite-types.js'
import { SwarmpadError } from '../errors.js'
import { parseJsonFile, writeJsonFile } from '../storage/json-file.js'
import { storageError } from '../storage/lock.js'

export type InviteState = 'pending' | 'used' | 'cancelled'

/// One writer or owner-device invite, as stored by the device that made it.
export interface StoredInvite {
  /// Short id shown to people (z32, 10 characters).
  id: string
  /// blind-pairing invite id (hex): how requests name the invite.
  inviteId: string
  /// The document key (hex).
  doc: string
  /// The document's discovery key (hex).
  discoveryKey: string
  role: 'writer' | 'owner'
  /// The invite secret (hex): the seed of the invite key pair. Kept so the
  /// code can be shown again; never leaves this device except in the code.
  seed: string
  /// The invite public key (hex): opens requests made with the code.
  publicKey: string
  /// The invite code itself.
  code: string
  created: number
  expires: number
  state: InviteState
  /// Writer key (hex) of the device that used it, and when.
  usedBy?: string
  usedAt?: number
  cancelledAt?: number
  /// Set on the invites a re-key makes for the remaining members.
  /// `client`: the member's Yjs clientID in the old document when the
  /// successor was seeded with its whole state (format v2): it is added as
  /// carrying that client, so its edits the seed lacks carry over exactly.
  rekey?: { from: string; member: string; client?: number }
}

/// `invites.json`: `{ "version": 1, "invites": [StoredInvite] }`.
const INVITES_FILE = { version: 1, field: 'invites' }
/// How long a record is kept after its invite expired.
export const RECORD_TTL = 30 * 24 * 3600 * 1000

export class InviteStore {
  private records: StoredInvite[] = []
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  async load(): Promise<void> {
    let raw: string
    try {
      raw = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.records = []
        return
      }
      throw storageError(this.path, err)
    }
    this.records = parseInvites(raw, this.path)
  }

  all(): StoredInvite[] {
    return this.records.map((r) => ({ ...r }))
  }

  find(pred: (r: StoredInvite) => boolean): StoredInvite | undefined {
    const r = this.records.find(pred)
    return r ? { ...r } : undefined
  }

  async add(record: StoredInvite): Promise<void> {
    await this.save([...this.records, { ...record }])
  }

  async addMany(records: StoredInvite[]): Promise<void> {
    await this.save([...this.records, ...records.map((r) => ({ ...r }))])
  }

  async update(inviteId: string, patch: Partial<StoredInvite>): Promise<StoredInvite> {
    const i = this.records.findIndex((r) => r.inviteId === inviteId)
    if (i === -1) throw new SwarmpadError('BAD_ARGUMENT', 'no such invite')
    const next = this.records.slice()
    next[i] = { ...next[i]!, ...patch }
    await this.save(next)
    return { ...next[i]! }
  }

  async remove(pred: (r: StoredInvite) => boolean): Promise<void> {
    if (!this.records.some(pred)) return
    await this.save(this.records.filter((r) => !pred(r)))
  }

  /// Drop records whose invite expired more than RECORD_TTL ago.
  async prune(now: number): Promise<void> {
    await this.remove((r) => r.expires + RECORD_TTL < now)
  }

  private async save(records: StoredInvite[]): Promise<void> {
    const write = this.writing.then(() => writeJsonFile(this.path, INVITES_FILE, records))
    this.writing = write.catch(() => {})
    await write
    this.records = records
  }
}

function parseInvites(raw: string, path: string): StoredInvite[] {
  const corrupt = (why: string) =>
    new SwarmpadError('STORAGE_CORRUPT', `${path} is damaged (${why}); it was left untouched: move it away to forget this device's invites (they stop working)`)
  const read = parseJsonFile(raw, INVITES_FILE)
  if (read.state === 'damaged') {
    if (read.newer !== undefined) throw new SwarmpadError('STORAGE_CORRUPT', `${path} was written by a newer swarmpad (invites version ${read.newer}); upgrade swarmpad`)
    throw corrupt(read.why)
  }
  const file = { invites: read.records }
  const hex32 = /^[0-9a-f]{64}$/
  for (const e of file.invites as unknown[]) {
    const x = e as Partial<StoredInvite>
    if (
      typeof x !== 'object' || x === null ||
      typeof x.id !== 'string' ||
      typeof x.inviteId !== 'string' || !hex32.test(x.inviteId) ||
      typeof x.doc !== 'string' || !hex32.test(x.doc) ||
      typeof x.discoveryKey !== 'string' || !hex32.test(x.discoveryKey) ||
      (x.role !== 'writer' && x.role !== 'owner') ||
      typeof x.seed !== 'string' || !hex32.test(x.seed) ||
      typeof x.publicKey !== 'string' || !hex32.test(x.publicKey) ||
      typeof x.code !== 'string' ||
      typeof x.created !== 'number' || typeof x.expires !== 'number' ||
      (x.state !== 'pending' && x.state !== 'used' && x.state !== 'cancelled')
    ) {
      throw corrupt('an entry is malformed')
    }
  }
  return file.invites as StoredInvite[]
}

/// A new pending invite record: a fresh blind-pairing key pair (seed) for
/// the document, and the code that carries it.
export function newInviteRecord(key: Uint8Array, discoveryKey: Uint8Array, role: 'writer' | 'owner', expires: number, now: number, rekey?: StoredInvite['rekey']): StoredInvite {
  const seed = randomBytes(32)
  const made = createInvite(key, { seed, discoveryKey, expires })
  return {
    id: z32.encode(made.id).slice(0, 10),
    inviteId: toHex(made.id),
    doc: toHex(key),
    discoveryKey: toHex(discoveryKey),
    role,
    seed: toHex(seed),
    publicKey: toHex(made.publicKey),
    code: encodeInvite({ role, seed, discoveryKey, expires }),
    created: now,
    expires,
    state: 'pending',
    ...(rekey ? { rekey } : {})
  }
}

/// An invite record as listed to people (`name`: the document's local name).
export function inviteInfo(r: StoredInvite, now: number, name: string | null): InviteInfo {
  const state = r.state === 'pending' && isExpired(r, now) ? 'expired' : r.state
  return {
    id: r.id,
    code: r.code,
    role: r.role,
    doc: formatKey(fromHex(r.doc)),
    name,
    created: r.created,
    expires: r.expires,
    state,
    usedBy: r.usedBy ? formatKey(fromHex(r.usedBy)) : null,
    usedAt: r.usedAt ?? null,
    purpose: r.rekey ? 'rekey' : 'invite'
  }
}
