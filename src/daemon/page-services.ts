// The page's capabilities (src/server/collab.ts), made from the daemon's
// typed services: presence and status from src/net's Network, the share
// dialog from src/pairing's Invites, removal from src/pairing's Members.
// Renaming a method of any of them fails to compile here.
import b4a from 'b4a'
import type { Network } from '../net/network.js'
import type { Invites } from '../pairing/invites.js'
import type { Members } from '../pairing/members.js'
import type { SwarmDocument } from '../sync/document.js'
import type { InviteProvider, MemberRemover } from '../server/collab.js'
import { OFFLINE, type PeerSource, type RemotePresence, type SyncStatus } from '../server/peers.js'

const keyOf = (doc: SwarmDocument) => b4a.toString(doc.key, 'hex')

/// Presence and sync status of the network's joined documents.
///
/// The network attaches to the Swarmpad before the page's hub (the daemon
/// makes it first, and services are told in the order they attached), so a
/// document's presence exists by the time its authority watches it.
export function pagePeers(net: Pick<Network, 'presence' | 'documentStatus' | 'setCursor' | 'on' | 'off'>): PeerSource {
  const presenceOf = (doc: SwarmDocument) => {
    try {
      return net.presence(doc)
    } catch {
      return null // not joined on the network (no longer, or never: it closed)
    }
  }
  return {
    available: true,
    presence(doc): RemotePresence[] {
      return presenceOf(doc)?.peers() ?? []
    },
    onlineDevices(doc) {
      return presenceOf(doc)?.onlineDevices() ?? new Set()
    },
    status(doc): SyncStatus {
      try {
        const s = net.documentStatus(doc)
        return { state: s.state, label: s.label, peers: s.peers }
      } catch {
        return OFFLINE
      }
    },
    setCursor(doc, cursor) {
      try {
        net.setCursor(doc, cursor)
      } catch {
        // not joined on the network: nobody to tell
      }
    },
    watch(doc, onPresence, onStatus) {
      const key = keyOf(doc)
      const presence = presenceOf(doc)
      presence?.on('update', onPresence)
      const onNetStatus = (s: { key: string }) => {
        if (s.key === key) onStatus()
      }
      net.on('status', onNetStatus)
      return () => {
        net.off('status', onNetStatus)
        presence?.off('update', onPresence)
      }
    }
  }
}

/// The share dialog: pending invites made for sharing (not re-key follow-ups).
export function pageInvites(invites: Pick<Invites, 'create' | 'list' | 'cancel'>): InviteProvider {
  return {
    async create(doc, kind) {
      const r = await invites.create(keyOf(doc), { role: kind })
      return { id: r.id, code: r.code, kind: r.role, created: Date.now(), expires: r.expires }
    },
    async list(doc) {
      return invites
        .list(keyOf(doc))
        .filter((r) => r.state === 'pending' && (r.purpose === undefined || r.purpose === 'invite'))
        .map((r) => ({ id: r.id, kind: r.role, code: r.code, created: r.created, expires: r.expires }))
    },
    async cancel(doc, id) {
      await invites.cancel(keyOf(doc), id)
    }
  }
}

/// Removing a member, with a re-key when asked.
export function pageRemover(members: Pick<Members, 'remove'>): MemberRemover {
  return {
    async remove(doc, key, rekey) {
      const r = await members.remove(keyOf(doc), key, { rekey })
      return { rekey: r.rekey === null ? null : { key: r.rekey.key, sealed: r.rekey.sealed.length, unreachable: r.rekey.unreachable.length } }
    }
  }
}
