// Members of a document as people see them: list, rename yourself, remove.
//
// Membership itself is data in the document's log (src/doc/membership.ts):
// apply() on every peer enforces that only owners add or remove members and
// that the last owner stays. This module only reads it and asks for changes.
import b4a from 'b4a'
import { shownColor } from '../doc/member-view.js'
import { projectMembers, type ProjectedMember } from '../doc/member-projection.js'
import { SwarmpadError } from '../errors.js'
import type { Swarmpad } from '../swarmpad.js'
import type { Member } from '../doc/membership.js'
import { formatKey } from '../storage/keys.js'
import type { Role } from '../doc/blocks.js'
import type { PresenceSource } from './presence.js'
import type { Invites, RekeyResult } from './invites.js'
import { resolveMember, SHORT_KEY_LENGTH } from './resolve.js'

export interface MemberInfo {
  /// The member's writer key in this document (z32) and its short form.
  key: string
  shortKey: string
  /// As the page shows it (src/doc/member-projection.ts): their own name or
  /// a short form of their key, with the key's start when two show the same.
  name: string
  /// `#rrggbb`; a colour derived from the key when the member chose none.
  color: string
  role: Role
  /// True for this device.
  self: boolean
  /// The swarm key its presence comes from, as it declared (z32), or null
  /// (none declared, or declared by several members: it vouches for none).
  device: string | null
  online: boolean
  /// ms since the epoch; null when never seen by this device.
  lastSeen: number | null
}

export interface RemoveResult {
  /// The removed member's writer key (z32).
  removed: string
  /// Set when the document was re-keyed.
  rekey: RekeyResult | null
}

export interface MembersOptions {
  presence?: PresenceSource
  /// Needed for remove(..., { rekey: true }).
  invites?: Invites
  /// This device's swarm key, declared in profiles so peers can show presence.
  deviceKey?: Uint8Array
}

export class Members {
  constructor(private readonly swarmpad: Swarmpad, private readonly options: MembersOptions = {}) {}

  /// The active members of a document (by local name or key), owners first.
  async list(docNameOrKey: string): Promise<MemberInfo[]> {
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const membership = await doc.membership()
    return this.project(doc.key, doc.writerKey, membership.members).members.map((m) => this.info(doc.key, m))
  }

  /// This device's member record in a document, or null when it is not a member (a reader, or removed).
  async whoami(docNameOrKey: string): Promise<MemberInfo | null> {
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const self = this.project(doc.key, doc.writerKey, (await doc.membership()).members).self
    return self ? this.info(doc.key, self) : null
  }

  /// Set this device's name (and colour) in a document: a profile block.
  async rename(docNameOrKey: string, profile: { name: string; color?: string }): Promise<MemberInfo> {
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const self = await doc.self()
    if (self === null) throw new SwarmpadError('NOT_WRITABLE', `this device is not a member of "${entry.name}" and cannot set a name there`)
    const color = profile.color ?? shownColor(self)
    const device = this.options.deviceKey ? b4a.from(this.options.deviceKey) : self.device
    await doc.setProfile({ name: profile.name, color, device })
    const shown = this.project(doc.key, doc.writerKey, (await doc.membership()).members).self
    if (shown === undefined) throw new SwarmpadError('NOT_WRITABLE', `this device was removed from "${entry.name}"`)
    return this.info(doc.key, shown)
  }

  /// Remove a member (by key, unique key prefix or name). Owners only, and
  /// never the last owner: apply() refuses both on every peer. With `rekey`,
  /// the document also moves to a successor with fresh keys (Invites.rekey).
  async remove(docNameOrKey: string, who: string | Uint8Array, opts: { rekey?: boolean } = {}): Promise<RemoveResult> {
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const m = await doc.membership()
    const target = resolveMember(m.members, who)
    if (opts.rekey) {
      if (!this.options.invites) throw new SwarmpadError('BAD_ARGUMENT', 're-keying needs the network (Members was made without Invites)')
      const rekey = await this.options.invites.rekey(entry.name, target.key)
      return { removed: formatKey(target.key), rekey }
    }
    if (target.removed) throw new SwarmpadError('BAD_ARGUMENT', `${formatKey(target.key).slice(0, SHORT_KEY_LENGTH)} was already removed`)
    await doc.removeMember(target.key)
    return { removed: formatKey(target.key), rekey: null }
  }

  private project(docKey: Uint8Array, selfKey: Uint8Array, members: readonly Member[]) {
    return projectMembers(members, selfKey, this.options.presence?.onlineDevices(docKey) ?? new Set())
  }

  private info(docKey: Uint8Array, m: ProjectedMember): MemberInfo {
    const key = formatKey(m.key)
    const lastSeen = m.online ? Date.now() : m.deviceHex === null ? null : (this.options.presence?.lastSeen(docKey, m.deviceHex) ?? null)
    return {
      key,
      shortKey: key.slice(0, SHORT_KEY_LENGTH),
      name: m.name,
      color: m.color,
      role: m.role,
      self: m.self,
      device: m.device ? formatKey(m.device) : null,
      online: m.online,
      lastSeen
    }
  }
}
