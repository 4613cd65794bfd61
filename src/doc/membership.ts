import c from 'compact-encoding'
import b4a from 'b4a'
import { createHash } from 'node:crypto'
import type { Block, FormatVersion, Key, Role } from './blocks.js'
import { MAX_MEMBERS, MAX_OWNER_DEVICES } from '../limits.js'
import { Refusal, refuse, type Verdict } from './refusals.js'

/// One device that may (or once could) write to a document.
export interface Member {
  /// Small stable number given when first added; entries of `updates` name it.
  n: number
  /// The writer core key: every block this member signs comes from it.
  key: Key
  role: Role
  /// The Yjs clientID derived from `key`; every struct the member types carries it.
  clientId: number
  /// Format v2, a re-key's follower: the Yjs clientID it had in the old
  /// document, whose text the seed holds. The member may write structs of
  /// that client too (the edits it carries over, exactly as it typed them),
  /// continuing its clocks. Null for everyone else.
  carries: number | null
  name: string
  color: string
  /// Device (swarm) key the member's presence comes from, as it declared.
  device: Key | null
  removed: boolean
}

/// The membership of a document, as of some point in its linearized history.
/// Derived only from blocks, so it is the same on every peer at the same point.
export interface Membership {
  members: Member[]
  /// Successor document after a re-key, set by a `moved` block.
  movedTo: { key: Key; sealed: Array<{ writer: Key; box: Uint8Array }> } | null
  title: string
  /// The document's format version: 1 (no record, or a v1 record) or 2.
  format: FormatVersion
  /// Format v2: what the genesis block declared (0, a document).
  type: number
}

/// The refusals of a membership block by a member that is not an owner.
export const NOT_OWNER_CODES: ReadonlySet<number> = new Set([Refusal.ONLY_OWNERS_ADD, Refusal.ONLY_OWNERS_REMOVE, Refusal.ONLY_OWNERS_MOVE])

/// What decide() needs to know beyond the membership.
export interface DecideContext {
  /// Autobase's own rule: whether a writer can be removed now (the last indexer stays).
  removable(key: Key): boolean
  /// Whether a Yjs client has text in the document (for a member continuing it).
  hasText(client: number): boolean
}

/// What apply() must do for one block, decided from the membership alone.
export type Decision =
  | { action: 'reject'; verdict: Verdict }
  | { action: 'update'; member: Member }
  | { action: 'add-writer'; next: Membership; key: Key; indexer: boolean }
  | { action: 'remove-writer'; next: Membership; key: Key }
  | { action: 'membership'; next: Membership }

/// The Yjs clientID of a writer: the first 32 bits of SHA-256 of its key.
/// Binding clientIDs to keys lets apply() check that every character in a
/// block was authored by the writer that signed it.
export function clientIdFor(key: Key): number {
  return createHash('sha256').update(key).digest().readUInt32LE(0)
}

/// The membership of a new document: its creator is the only owner.
export function genesis(creator: Key, format: FormatVersion = 1, type = 0): Membership {
  return {
    members: [
      { n: 0, key: b4a.from(creator), role: 'owner', clientId: clientIdFor(creator), carries: null, name: '', color: '', device: null, removed: false }
    ],
    movedTo: null,
    title: '',
    format,
    type
  }
}

export function findMember(m: Membership, key: Key): Member | undefined {
  return m.members.find((x) => b4a.equals(x.key, key))
}

export function activeMembers(m: Membership): Member[] {
  return m.members.filter((x) => !x.removed)
}

export function activeOwners(m: Membership): Member[] {
  return m.members.filter((x) => !x.removed && x.role === 'owner')
}

function withMember(m: Membership, member: Member): Membership {
  const members = m.members.slice()
  const i = members.findIndex((x) => x.n === member.n)
  if (i === -1) members.push(member)
  else members[i] = member
  return { ...m, members }
}

/// Decide what a block signed by `signer` does. Pure and total.
///
/// Rules: only active members' blocks count; only owners add or remove
/// writers and write `moved`; at most MAX_OWNER_DEVICES active owners; the
/// last owner cannot be removed; a new writer whose clientID collides with
/// any member's (present or past) is refused, since it could forge authorship.
/// `removable` answers Autobase's own rule (the last indexer stays).
export function decide(m: Membership, signer: Key, block: Block, ctx: DecideContext): Decision {
  const reject = (code: Verdict['code'], words: string, args?: number[]): Decision => ({ action: 'reject', verdict: refuse(code, words, args) })
  const author = findMember(m, signer)
  if (author === undefined || author.removed) return reject(Refusal.NOT_MEMBER, 'signer is not a member')

  switch (block.kind) {
    case 'update':
    case 'seed':
      return { action: 'update', member: author }

    case 'genesis':
      // apply() takes a genesis block only as the document's first block.
      return reject(Refusal.GENESIS_NOT_FIRST, 'a genesis block comes first')

    case 'profile':
      return {
        action: 'membership',
        next: withMember(m, { ...author, name: block.name, color: block.color, device: block.device ? b4a.from(block.device) : null })
      }

    case 'meta':
      return { action: 'membership', next: { ...m, title: block.title } }

    case 'add-writer': {
      if (author.role !== 'owner') return reject(Refusal.ONLY_OWNERS_ADD, 'only owners add members')
      const existing = findMember(m, block.key)
      // A removed key stays removed: Autobase would resume its log after the
      // adding block and skip what it wrote meanwhile, which that device
      // would never learn. A device invited again gets a new writer key.
      if (existing !== undefined && existing.removed) return reject(Refusal.KEY_REMOVED, 'a removed writer key cannot be added back; invite the device again')
      if (existing !== undefined) {
        if (existing.role === block.role) return reject(Refusal.ALREADY_MEMBER, 'already a member')
        return reject(Refusal.ALREADY_MEMBER_OTHER_ROLE, 'already a member with another role')
      }
      if (block.role === 'owner' && activeOwners(m).length >= MAX_OWNER_DEVICES) {
        return reject(Refusal.TOO_MANY_OWNERS, `a document has at most ${MAX_OWNER_DEVICES} owner devices`, [MAX_OWNER_DEVICES])
      }
      if (m.members.length >= MAX_MEMBERS) {
        return reject(Refusal.TOO_MANY_MEMBERS, `a document has at most ${MAX_MEMBERS} members`, [MAX_MEMBERS])
      }
      const clientId = clientIdFor(block.key)
      const taken = (client: number) => m.members.some((x) => x.clientId === client || x.carries === client)
      // (A seed brings text of clients that are no member's: a key whose
      // clientID is one of them collides too.)
      if (taken(clientId) || ctx.hasText(clientId)) {
        return reject(Refusal.CLIENT_COLLISION, 'writer key collides with a member clientID')
      }
      // A re-key's follower carries its old client: no other member (present
      // or past) is or carries it, so only this member's blocks continue it.
      const carries = block.continues ?? null
      if (carries !== null && (taken(carries) || carries === clientId)) {
        return reject(Refusal.BAD_CONTINUATION, 'the new member cannot continue that text')
      }
      const member: Member = { n: m.members.length, key: b4a.from(block.key), role: block.role, clientId, carries, name: '', color: '', device: null, removed: false }
      return { action: 'add-writer', next: withMember(m, member), key: member.key, indexer: block.role === 'owner' }
    }

    case 'remove-writer': {
      if (author.role !== 'owner') return reject(Refusal.ONLY_OWNERS_REMOVE, 'only owners remove members')
      const target = findMember(m, block.key)
      if (target === undefined || target.removed) return reject(Refusal.TARGET_NOT_MEMBER, 'not a member')
      if (target.role === 'owner' && activeOwners(m).length === 1) {
        return reject(Refusal.LAST_OWNER, 'the last owner cannot be removed')
      }
      if (!ctx.removable(target.key)) return reject(Refusal.CANNOT_REMOVE_NOW, 'writer cannot be removed now')
      return { action: 'remove-writer', next: withMember(m, { ...target, removed: true }), key: target.key }
    }

    case 'moved':
      if (author.role !== 'owner') return reject(Refusal.ONLY_OWNERS_MOVE, 'only owners move a document')
      if (m.movedTo !== null) return reject(Refusal.ALREADY_MOVED, 'document already moved')
      return { action: 'membership', next: { ...m, movedTo: { key: b4a.from(block.key), sealed: block.sealed } } }
  }
}

// --- encoding of the membership record (one entry of the `members` view) ---

const ROLE = { owner: 1, writer: 2 } as const
type State = ReturnType<typeof c.state>

// Member flags: bit 0 a device key follows, bit 1 removed, bit 2 (v2
// records) a carried clientID (uint32) follows.
const memberEncoding = {
  preencode(state: State, m: Member) {
    c.uint.preencode(state, m.n)
    c.fixed32.preencode(state, m.key)
    c.uint8.preencode(state, 0)
    c.uint32.preencode(state, m.clientId)
    c.string.preencode(state, m.name)
    c.string.preencode(state, m.color)
    c.uint8.preencode(state, 0)
    if (m.device) c.fixed32.preencode(state, m.device)
    if (m.carries !== null) c.uint32.preencode(state, m.carries)
  },
  encode(state: State, m: Member) {
    c.uint.encode(state, m.n)
    c.fixed32.encode(state, m.key)
    c.uint8.encode(state, ROLE[m.role])
    c.uint32.encode(state, m.clientId)
    c.string.encode(state, m.name)
    c.string.encode(state, m.color)
    c.uint8.encode(state, (m.device ? 1 : 0) | (m.removed ? 2 : 0) | (m.carries !== null ? 4 : 0))
    if (m.device) c.fixed32.encode(state, m.device)
    if (m.carries !== null) c.uint32.encode(state, m.carries)
  },
  decode(state: State): Member {
    const n = c.uint.decode(state)
    const key = c.fixed32.decode(state)
    const role = c.uint8.decode(state) === ROLE.owner ? 'owner' : 'writer'
    const clientId = c.uint32.decode(state)
    const name = c.string.decode(state)
    const color = c.string.decode(state)
    const flags = c.uint8.decode(state)
    const device = flags & 1 ? c.fixed32.decode(state) : null
    const carries = flags & 4 ? c.uint32.decode(state) : null
    return { n, key, role, clientId, carries, name, color, device, removed: (flags & 2) !== 0 }
  }
}

const membershipEncoding = {
  preencode(state: State, m: Membership) {
    c.uint.preencode(state, m.format)
    if (m.format >= 2) c.uint.preencode(state, m.type)
    c.string.preencode(state, m.title)
    c.uint.preencode(state, m.members.length)
    for (const x of m.members) memberEncoding.preencode(state, x)
    c.uint8.preencode(state, 0)
    if (m.movedTo) {
      c.fixed32.preencode(state, m.movedTo.key)
      c.uint.preencode(state, m.movedTo.sealed.length)
      for (const s of m.movedTo.sealed) {
        c.fixed32.preencode(state, s.writer)
        c.buffer.preencode(state, s.box)
      }
    }
  },
  encode(state: State, m: Membership) {
    c.uint.encode(state, m.format)
    if (m.format >= 2) c.uint.encode(state, m.type)
    c.string.encode(state, m.title)
    c.uint.encode(state, m.members.length)
    for (const x of m.members) memberEncoding.encode(state, x)
    c.uint8.encode(state, m.movedTo ? 1 : 0)
    if (m.movedTo) {
      c.fixed32.encode(state, m.movedTo.key)
      c.uint.encode(state, m.movedTo.sealed.length)
      for (const s of m.movedTo.sealed) {
        c.fixed32.encode(state, s.writer)
        c.buffer.encode(state, s.box)
      }
    }
  },
  decode(state: State): Membership {
    const version = c.uint.decode(state)
    if (version !== 1 && version !== 2) throw new Error(`unknown membership record version ${version}`)
    const type = version >= 2 ? c.uint.decode(state) : 0
    const title = c.string.decode(state)
    const count = c.uint.decode(state)
    const members: Member[] = []
    for (let i = 0; i < count; i++) members.push(memberEncoding.decode(state))
    let movedTo: Membership['movedTo'] = null
    if (c.uint8.decode(state) === 1) {
      const key = c.fixed32.decode(state)
      const n = c.uint.decode(state)
      const sealed: Array<{ writer: Key; box: Uint8Array }> = []
      for (let i = 0; i < n; i++) sealed.push({ writer: c.fixed32.decode(state), box: c.buffer.decode(state) ?? b4a.alloc(0) })
      movedTo = { key, sealed }
    }
    return { members, movedTo, title, format: version === 1 ? 1 : 2, type }
  }
}

export function encodeMembership(m: Membership): Uint8Array {
  return c.encode(membershipEncoding, m)
}

/// Decode a membership record written by apply() (a view entry, so trusted
/// in shape; still throws rather than guessing on a damaged record).
export function decodeMembership(bytes: Uint8Array): Membership {
  return c.decode(membershipEncoding, bytes)
}
