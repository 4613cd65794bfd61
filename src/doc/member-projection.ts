// The members of a document as every part of swarmpad shows them, computed
// once from the membership and the devices online (pure: no disk, no
// network). The page's members list and cursors, `swarmpad members`,
// `swarmpad ls` and the network's presence all read this projection, so
// they cannot disagree about a name, a colour, a role or who is online.
import b4a from 'b4a'
import type { Member } from './membership.js'
import type { Role } from './blocks.js'
import { distinctLabels, shownColor, shownName } from './member-view.js'

/// One member as shown.
export interface ProjectedMember {
  /// The member's writer key in the document, and its hex form.
  key: Uint8Array
  hex: string
  n: number
  /// Their own name ('' when they chose none).
  ownName: string
  /// The name shown: their own or a short form of their key, with the
  /// start of the key added when another member shows the same name.
  name: string
  /// `#rrggbb`: the one they chose, else one derived from their key.
  color: string
  role: Role
  clientId: number
  /// The device (swarm) key they declared, or null when they declared none
  /// or several members declared the same one (it then vouches for none).
  device: Uint8Array | null
  deviceHex: string | null
  removed: boolean
  /// This device.
  self: boolean
  /// This device, or an active member whose declared device is online.
  online: boolean
}

export interface MemberProjection {
  /// Active members, owners first, then in the order they joined.
  members: ProjectedMember[]
  /// Removed members (never online), in the order they joined.
  removed: ProjectedMember[]
  /// This device's record, if it is an active member.
  self: ProjectedMember | undefined
  /// An active member by writer key (hex).
  byKey(hex: string): ProjectedMember | undefined
  /// The active member whose declared device is `deviceHex`.
  byDevice(deviceHex: string): ProjectedMember | undefined
}

/// Project a membership. `members`: every member record (removed ones too);
/// `selfKey`: this device's writer key in the document; `onlineDevices`: the
/// device keys (hex) online in this document now (the network's presence).
export function projectMembers(members: readonly Member[], selfKey: Uint8Array, onlineDevices: ReadonlySet<string>): MemberProjection {
  const claims = new Map<string, number>()
  for (const m of members) {
    if (m.removed || m.device === null) continue
    const d = b4a.toString(m.device, 'hex')
    claims.set(d, (claims.get(d) ?? 0) + 1)
  }
  const active = members.filter((m) => !m.removed)
  const names = distinctLabels(active, shownName, (m) => b4a.toString(m.key, 'hex').slice(0, 8))
  const project = (m: Member): ProjectedMember => {
    const hex = b4a.toString(m.key, 'hex')
    const declared = m.device === null ? null : b4a.toString(m.device, 'hex')
    const deviceHex = declared !== null && !m.removed && claims.get(declared) === 1 ? declared : null
    const self = !m.removed && b4a.equals(m.key, selfKey)
    return {
      key: m.key,
      hex,
      n: m.n,
      ownName: m.name,
      name: names.get(m) ?? shownName(m),
      color: shownColor(m),
      role: m.role,
      clientId: m.clientId,
      device: deviceHex === null ? null : m.device,
      deviceHex,
      removed: m.removed,
      self,
      online: !m.removed && (self || (deviceHex !== null && onlineDevices.has(deviceHex)))
    }
  }
  const shown = active.map(project).sort((a, b) => (a.role === b.role ? a.n - b.n : a.role === 'owner' ? -1 : 1))
  const removed = members.filter((m) => m.removed).map(project)
  const byHex = new Map(shown.map((m) => [m.hex, m]))
  const byDevice = new Map(shown.filter((m) => m.deviceHex !== null).map((m) => [m.deviceHex!, m]))
  return {
    members: shown,
    removed,
    self: shown.find((m) => m.self),
    byKey: (hex) => byHex.get(hex),
    byDevice: (d) => byDevice.get(d)
  }
}
