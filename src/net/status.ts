import b4a from 'b4a'
import type { SwarmDocument } from '../sync/document.js'

/// `offline`: no peer of this document is connected. `saved`: peers are
/// connected but none holds this device's latest block yet ("saved on this
/// device"). `synced`: at least one connected peer holds every block this
/// device wrote ("synced with N peers").
export type SyncState = 'offline' | 'saved' | 'synced'

/// The sync status of one document, as the page and `swarmpad status` show it.
export interface DocumentSyncStatus {
  /// Document key (hex).
  key: string
  discoveryKey: string
  state: SyncState
  /// "offline", "saved on this device" or "synced with N peers".
  label: string
  /// Connected devices replicating this document now.
  peers: number
  /// Of those, how many hold every block this device wrote.
  syncedPeers: number
  /// Blocks in this device's own log of the document.
  localLength: number
  /// Longest prefix of this device's log that some connected peer holds.
  confirmedLength: number
}

/// The parts of a Hypercore replication peer that status reads. Hypercore
/// creates a peer for a core only after the remote proved it holds the
/// core's key (the replication capability), so these are real readers.
interface ReplicationPeer {
  remotePublicKey: Uint8Array
  /// How many blocks from 0 the remote has, as its bitfield messages said.
  remoteContiguousLength: number
}

interface PeeredCore {
  length: number
  peers: ReplicationPeer[]
}

function coreOf(value: unknown): PeeredCore | null {
  if (value === null || typeof value !== 'object') return null
  const core = value as { peers?: unknown; length?: unknown }
  if (!Array.isArray(core.peers) || typeof core.length !== 'number') return null
  return core as PeeredCore
}

/// Remote device keys (hex) replicating a document's cores now: this
/// device's writer core and the shared system core every reader opens.
export function documentPeers(doc: SwarmDocument): Set<string> {
  const out = new Set<string>()
  if (!doc.opened || doc.closingOrClosed) return out
  const base = doc.autobase as unknown as { local: unknown; core?: unknown }
  for (const core of [coreOf(base.local), coreOf(base.core)]) {
    if (core === null) continue
    for (const p of core.peers) out.add(b4a.toString(p.remotePublicKey, 'hex'))
  }
  return out
}

/// Compute the status of one document from its cores and the live connections.
export function documentStatus(doc: SwarmDocument, connected: ReadonlySet<string>): DocumentSyncStatus {
  const key = b4a.toString(doc.key, 'hex')
  const discoveryKey = b4a.toString(doc.discoveryKey, 'hex')
  let peers = 0
  let syncedPeers = 0
  let confirmedLength = 0
  let localLength = 0
  if (doc.opened && !doc.closingOrClosed) {
    const local = coreOf((doc.autobase as unknown as { local: unknown }).local)
    localLength = local?.length ?? 0
    const all = documentPeers(doc)
    for (const k of all) if (connected.has(k)) peers++
    const holders = new Set<string>()
    for (const p of local?.peers ?? []) {
      const remote = b4a.toString(p.remotePublicKey, 'hex')
      if (!connected.has(remote)) continue
      const length = Math.max(0, p.remoteContiguousLength)
      confirmedLength = Math.max(confirmedLength, Math.min(length, localLength))
      if (length >= localLength) holders.add(remote)
    }
    // A device that wrote nothing has nothing to confirm: every peer is in sync.
    syncedPeers = localLength === 0 ? peers : holders.size
    if (localLength === 0) confirmedLength = 0
  }
  const state: SyncState = peers === 0 ? 'offline' : syncedPeers > 0 ? 'synced' : 'saved'
  return { key, discoveryKey, state, label: statusLabel(state, syncedPeers), peers, syncedPeers, localLength, confirmedLength }
}

/// The words the page and the CLI show for a state.
export function statusLabel(state: SyncState, syncedPeers: number): string {
  if (state === 'offline') return 'offline'
  if (state === 'saved') return 'saved on this device'
  return `synced with ${syncedPeers} ${syncedPeers === 1 ? 'peer' : 'peers'}`
}

/// Whether two statuses differ in anything shown.
export function sameStatus(a: DocumentSyncStatus | undefined, b: DocumentSyncStatus): boolean {
  return (
    a !== undefined &&
    a.state === b.state &&
    a.peers === b.peers &&
    a.syncedPeers === b.syncedPeers &&
    a.localLength === b.localLength &&
    a.confirmedLength === b.confirmedLength
  )
}
