import b4a from 'b4a'
import { SwarmpadError } from '../errors.js'
import { BLOCK_VERSION, encodeBlock, type Block, type FormatVersion, type Key, type Role } from '../doc/blocks.js'
import { activeMembers, findMember, NOT_OWNER_CODES, type Member, type Membership } from '../doc/membership.js'
import { decodeRejectionEntry, decodeUpdateEntry, type RejectionEntry, type UpdateEntry } from '../doc/entries.js'
import { readMembership, type DocumentView } from './view.js'

/// What the membership side of a document needs of it.
export interface MembersHost {
  /// The Autobase's view as it shows now.
  readonly view: DocumentView
  /// The document key (the creator's writer key) and this device's writer key.
  readonly creator: Key
  readonly local: Key
  /// Throws unless this device may write (`text`: edit the text, too).
  assertWritable(text: boolean): void
  /// Append a block to this device's log (base.append()).
  append(block: Uint8Array): Promise<unknown>
}

/// A document's membership as of its view (cached until the view changes),
/// its format, the membership blocks this device writes, and the read-only
/// lists of the view (updates, rejections).
export class Members {
  private cache: Membership | null = null
  private generation = 0
  /// The document's format once the view says; see `format`.
  private formatKnown: FormatVersion | null = null
  /// The last profile change of this device (setProfile runs them in turn).
  private profileChanges: Promise<void> = Promise.resolve()

  constructor(private readonly host: MembersHost) {}

  /// The membership as of the current view.
  async membership(): Promise<Membership> {
    if (this.cache !== null) return this.cache
    // A read that began before the view changed must not be cached after it.
    const generation = this.generation
    const m = await readMembership(this.host.view, this.host.creator)
    if (generation === this.generation) this.cache = m
    this.learn(m, this.host.view)
    return m
  }

  /// The Autobase update hook saw the `members` view change: read the new
  /// membership from the hook's `view` (`base.view` shows the new entries
  /// only after the hook returns), so 'members' listeners see the change.
  async changed(view: DocumentView): Promise<void> {
    this.invalidate()
    const generation = this.generation
    const m = await readMembership(view, this.host.creator).catch(() => null)
    if (m !== null) this.learn(m, view)
    if (m !== null && generation === this.generation) this.cache = m
  }

  /// What a membership record says about the document.
  private learn(m: Membership, view: DocumentView): void {
    if (view.members.length > 0) this.formatKnown = m.format
  }

  /// The format this device writes the document's blocks in: the document's
  /// own (a v1 document stays v1, so v1 peers keep reading it); a document
  /// nothing was applied to yet gets the newest (its first block decides).
  get format(): FormatVersion {
    if (this.formatKnown !== null) return this.formatKnown
    const v = this.host.view
    if (v.members.length === 0 && (v.updates.length > 0 || v.rejections.length > 0)) return (this.formatKnown = 1)
    return BLOCK_VERSION
  }

  invalidate(): void {
    this.cache = null
    this.generation++
  }

  async members(): Promise<Member[]> {
    return activeMembers(await this.membership())
  }

  /// This device's member record, or null when it is not (or no longer) a member.
  async self(): Promise<Member | null> {
    const m = findMember(await this.membership(), this.host.local)
    return m !== undefined && !m.removed ? m : null
  }

  /// Add a device as a collaborator (`writer`) or an owner device (`owner`).
  /// Resolves when apply() has accepted it; throws with apply()'s reason otherwise.
  /// `carries` (format v2, a re-key): the Yjs clientID the device had in the
  /// document this one succeeds, whose edits it may carry over exactly.
  async addMember(key: Key, role: Role, carries: number | null = null): Promise<void> {
    await this.appendControl(carries !== null ? { kind: 'add-writer', key, role, continues: carries } : { kind: 'add-writer', key, role }, (m) => {
      const x = findMember(m, key)
      return x !== undefined && !x.removed && x.role === role
    })
  }

  async removeMember(key: Key): Promise<void> {
    await this.appendControl({ kind: 'remove-writer', key }, (m) => {
      const x = findMember(m, key)
      return x === undefined || x.removed
    })
  }

  /// Set this device's name, colour and presence key in the document; a
  /// field left out keeps its value. The changes of one device run one at a
  /// time, each merged into what the one before wrote: the network adding the
  /// device key while a join sets the name must not put back the old name.
  async setProfile(profile: { name?: string | undefined; color?: string | undefined; device?: Key | null | undefined }): Promise<void> {
    const change = this.profileChanges.then(async () => {
      const self = findMember(await this.membership(), this.host.local)
      const name = profile.name ?? self?.name ?? ''
      const color = profile.color ?? self?.color ?? ''
      const device = profile.device !== undefined ? profile.device : (self?.device ?? null)
      await this.appendControl({ kind: 'profile', name, color, device }, (m) => {
        const x = findMember(m, this.host.local)
        return x !== undefined && x.name === name && x.color === color
      })
    })
    this.profileChanges = change.catch(() => {})
    await change
  }

  /// Record that the document moved to a successor `key` (a re-key), with
  /// the successor's access sealed to each remaining member. Owners only;
  /// resolves when apply() accepted it, throws with its reason otherwise.
  async markMoved(key: Key, sealed: Array<{ writer: Key; box: Uint8Array }>): Promise<void> {
    await this.appendControl({ kind: 'moved', key, sealed }, (m) => m.movedTo !== null && b4a.equals(m.movedTo.key, key))
  }

  /// Append a membership block and check its effect once applied locally.
  private async appendControl(block: Block, accepted: (m: Membership) => boolean): Promise<void> {
    this.host.assertWritable(false)
    let bytes: Uint8Array
    try {
      bytes = encodeBlock(block, this.format)
    } catch (err) {
      throw new SwarmpadError('BAD_ARGUMENT', err instanceof Error ? err.message : String(err))
    }
    const rejectionsBefore = this.host.view.rejections.length
    await this.host.append(bytes)
    this.invalidate()
    const m = await this.membership()
    if (accepted(m)) return
    const rejections = await this.rejections(rejectionsBefore)
    const mine = rejections.reverse().find((r) => b4a.equals(r.writer, this.host.local))
    const code = mine !== undefined && NOT_OWNER_CODES.has(mine.code) ? 'NOT_OWNER' : 'BAD_ARGUMENT'
    throw new SwarmpadError(code, mine ? mine.reason : `the ${block.kind} block was not applied`)
  }

  /// Blocks apply() refused (the same list on every peer), from index `from`.
  async rejections(from = 0): Promise<RejectionEntry[]> {
    const out: RejectionEntry[] = []
    const core = this.host.view.rejections
    for (let i = from; i < core.length; i++) {
      const b = await core.get(i, { wait: false })
      if (b !== null) out.push(decodeRejectionEntry(b, this.format))
    }
    return out
  }

  /// Accepted updates in linearized order, from index `from` (entries that
  /// are not on this device, after a fast-forward, are skipped).
  async *updates(from = 0): AsyncGenerator<UpdateEntry & { index: number }> {
    const core = this.host.view.updates
    for (let i = from; i < core.length; i++) {
      const b = await core.get(i, { wait: false })
      if (b !== null) yield { index: i, ...decodeUpdateEntry(b) }
    }
  }
}
