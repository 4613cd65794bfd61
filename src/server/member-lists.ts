// What the page's members list and cursors show, from the membership
// projection (src/doc/member-projection.ts) and the network's presence
// (pure: tested without disk or network).
import type { MemberProjection } from '../doc/member-projection.js'
import type { RemotePresence } from './peers.js'
import type { MemberInfo, PresencePeer } from './protocol.js'

/// The cursors a tab sees: remote members online, and this device's other tabs.
export function presencePeers(
  shown: MemberProjection,
  remote: readonly RemotePresence[],
  otherTabs: ReadonlyArray<{ clientID: string; cursor: { anchor: number; head: number } }>
): PresencePeer[] {
  const peers: PresencePeer[] = []
  for (const p of remote) {
    if (!p.online) continue
    const m = shown.byKey(p.writerKey)
    // Only members' presences are accepted; one whose membership this page
    // has not loaded yet is shown as the network names it.
    peers.push({ id: p.writerKey, name: m?.name ?? p.name, color: m?.color ?? p.color, anchor: p.anchor, head: p.head, local: false })
  }
  const self = shown.self
  for (const t of otherTabs) {
    peers.push({
      id: `tab:${t.clientID}`,
      name: `${self ? self.name : 'you'} (another tab)`,
      color: self ? self.color : '#888888',
      anchor: t.cursor.anchor,
      head: t.cursor.head,
      local: true
    })
  }
  return peers
}

/// The members list and whether this device may manage members (an owner that can write).
export function membersInfo(shown: MemberProjection, writable: boolean): { members: MemberInfo[]; canManage: boolean } {
  const members = shown.members.map((m) => ({ key: m.hex, n: m.n, name: m.name, color: m.color, role: m.role, clientId: m.clientId, online: m.online, self: m.self }))
  return { members, canManage: shown.self !== undefined && shown.self.role === 'owner' && writable }
}
