// What the page's members list and cursors show, from the membership and the
// network's presence (pure: tested without disk or network).
import b4a from 'b4a'
import type { Member } from '../doc/membership.js'
import { distinctLabels, shownColor, shownName } from '../doc/member-view.js'
import type { RemotePresence } from './peers.js'
import type { MemberInfo, PresencePeer } from './protocol.js'

/// The cursors a tab sees: remote members online, and this device's other tabs.
export function presencePeers(
  members: readonly Member[],
  remote: readonly RemotePresence[],
  otherTabs: ReadonlyArray<{ clientID: string; cursor: { anchor: number; head: number } }>,
  self: Member | undefined
): PresencePeer[] {
  const peers: PresencePeer[] = []
  for (const p of remote) {
    if (!p.online) continue
    const m = members.find((x) => b4a.toString(x.key, 'hex') === p.writerKey)
    peers.push({
      id: p.writerKey,
      name: p.name || (m ? shownName(m) : 'someone'),
      color: p.color || (m ? shownColor(m) : '#888888'),
      anchor: p.anchor,
      head: p.head,
      local: false
    })
  }
  for (const t of otherTabs) {
    peers.push({
      id: `tab:${t.clientID}`,
      name: `${self ? shownName(self) : 'you'} (another tab)`,
      color: self ? shownColor(self) : '#888888',
      anchor: t.cursor.anchor,
      head: t.cursor.head,
      local: true
    })
  }
  return peers
}

/// The members list: names told apart when they collide, who is online,
/// and whether this device may manage members (an owner that can write).
export function membersInfo(members: readonly Member[], selfKey: Uint8Array, online: ReadonlySet<string>, writable: boolean): { members: MemberInfo[]; canManage: boolean } {
  const selfHex = b4a.toString(selfKey, 'hex')
  const names = distinctLabels(members, shownName, (m) => b4a.toString(m.key, 'hex').slice(0, 8))
  const list = members.map((m) => {
    const key = b4a.toString(m.key, 'hex')
    return {
      key,
      n: m.n,
      name: names.get(m) ?? shownName(m),
      color: shownColor(m),
      role: m.role,
      clientId: m.clientId,
      online: key === selfHex || online.has(key),
      self: key === selfHex
    }
  })
  const self = members.find((m) => b4a.equals(m.key, selfKey))
  return { members: list, canManage: self !== undefined && self.role === 'owner' && writable }
}
