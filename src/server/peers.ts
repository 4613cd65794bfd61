import type { SwarmDocument } from '../sync/document.js'
import type { SyncState } from './protocol.js'

/// A remote device's presence in a document, with offsets in the current text.
export interface RemotePresence {
  /// The member's writer key (hex).
  writerKey: string
  /// The device (swarm) key (hex) it arrived from.
  device: string
  /// As the membership projection shows the member (src/doc/member-projection.ts).
  name: string
  color: string
  anchor: number | null
  head: number | null
  online: boolean
}

export interface SyncStatus {
  state: SyncState
  label: string
  /// Connected devices replicating the document.
  peers: number
}

/// What the authority needs from the network layer: remote presence and
/// sync status per document, and a way to publish this device's cursor.
/// The daemon adapts src/net's Network (src/daemon/page-services.ts); with
/// no network (`noPeers`) the device is offline and sees no one.
export interface PeerSource {
  readonly available: boolean
  presence(doc: SwarmDocument): RemotePresence[]
  /// Device keys (hex) online in the document: the one notion of "online",
  /// given to projectMembers() (src/doc/member-projection.ts).
  onlineDevices(doc: SwarmDocument): ReadonlySet<string>
  status(doc: SwarmDocument): SyncStatus
  setCursor(doc: SwarmDocument, cursor: { anchor: number; head: number } | null): void
  /// Calls `onPresence` / `onStatus` when they change; returns the unsubscribe.
  watch(doc: SwarmDocument, onPresence: () => void, onStatus: () => void): () => void
}

export const OFFLINE: SyncStatus = { state: 'offline', label: 'offline', peers: 0 }

/// No network: offline, nobody else present.
export const noPeers: PeerSource = {
  available: false,
  presence: () => [],
  onlineDevices: () => new Set(),
  status: () => OFFLINE,
  setCursor: () => {},
  watch: () => () => {}
}
