// Members of a document as people see them: list, rename yourself, remove.
//
// Membership itself is data in the document's log (src/doc/membership.ts):
// apply() on every peer enforces that only owners add or remove members and
// that the last owner stays. This module only reads it and asks for changes.
import b4a from 'b4a'
import { shownColor } from '../doc/member-view.js'
import { SwarmpadError } from '../errors.js'
import type { Swarmpad } from '../swarmpad.js'
import { activeMembers, type Member } from '../doc/membership.js'
import { formatKey } from '../storage/keys.js'
import type { Role } from '../doc/blocks.js'
import type { PresenceSource } from './presence.js'
import type { Invites, RekeyResult } from './invites.js'
import { resolveMember, SHORT_KEY_LENGTH } from './resolve.js'

export interface MemberInfo {
  /// The member's writer key in this document (z32) and its short form.
  key: string
  shortKey: string
  name: string
  /// `#rrggbb`; a colour derived from the key when the member chose none.
  color: string
  role: Role
  /// True for this device.
  self: boolean
  /// The swarm key its presence comes from, as it declared (z32), or null.
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
    const members = activeMembers(await doc.membership())
    // A device key is what presence is matched by; one claimed by several
    // members (copied from another's profile) vouches for none of them.
    const claims = new Map<string, number>()
    for (const m of members) if (m.device) claims.set(b4a.toString(m.device, 'hex'), (claims.get(b4a.toString(m.device, 'hex')) ?? 0) + 1)
    const infos = members.map((m) => this.info(doc.key, doc.writerKey, m.device && (claims.get(b4a.toString(m.device, 'hex')) ?? 0) > 1 ? { ...m, device: null } : m))
    return infos.sort((a, b) => (a.role === b.role ? 0 : a.role === 'owner' ? -1 : 1))
  }

  /// This device's member record in a document, or null when it is not a member (a reader, or removed).
  async whoami(docNameOrKey: string): Promise<MemberInfo | null> {
    const entry = this.swarmpad.library.resolve(docNameOrKey)
    const { doc } = await this.swarmpad.open(entry.name)
    const self = await doc.self()
    return self ? this.info(doc.key, doc.writerKey, self) : null
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
    const updated = await doc.self()
    return this.info(doc.key, doc.writerKey, updated ?? self)
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

  private info(docKey: Uint8Array, selfKey: Uint8Array, m: Member): MemberInfo {
    const self = b4a.equals(m.key, selfKey)
    const key = formatKey(m.key)
    const status = self ? { online: true, lastSeen: Date.now() } : (this.options.presence?.status(docKey, { writerKey: m.key, device: m.device }) ?? null)
    return {
      key,
      shortKey: key.slice(0, SHORT_KEY_LENGTH),
      name: m.name,
      color: shownColor(m),
      role: m.role,
      self,
      device: m.device ? formatKey(m.device) : null,
      online: status?.online ?? false,
      lastSeen: status?.lastSeen ?? null
    }
  }
}
