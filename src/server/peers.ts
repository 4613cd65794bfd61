import { EventEmitter } from 'node:events'
import type { SwarmDocument } from '../sync/document.js'
import type { SyncState } from './protocol.js'

/// A remote device's presence in a document, with offsets in the current text.
export interface RemotePresence {
  /// The member's writer key (hex).
  writerKey: string
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
/// `PeerSource.of(network)` adapts src/net's Network; with no network the
/// device is offline and sees no one.
export interface PeerSource {
  readonly available: boolean
  presence(doc: SwarmDocument): RemotePresence[]
  status(doc: SwarmDocument): SyncStatus
  setCursor(doc: SwarmDocument, cursor: { anchor: number; head: number } | null): void
  /// Calls `onPresence` / `onStatus` when they change; returns the unsubscribe.
  watch(doc: SwarmDocument, onPresence: () => void, onStatus: () => void): () => void
}

/// The parts of src/net's Network (issue 3) this file uses.
interface NetworkShape {
  presence(doc: SwarmDocument): PresenceShape
  documentStatus(doc: SwarmDocument): { state: SyncState; label: string; peers: number; key: string }
  setCursor(doc: SwarmDocument, cursor: { anchor: number; head: number } | null): void
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off(event: string, listener: (...args: unknown[]) => void): unknown
}

interface PresenceShape extends EventEmitter {
  peers(): RemotePresence[]
}

function isNetwork(v: unknown): v is NetworkShape {
  if (typeof v !== 'object' || v === null) return false
  const n = v as Record<string, unknown>
  return ['presence', 'documentStatus', 'setCursor', 'on', 'off'].every((k) => typeof n[k] === 'function')
}

const OFFLINE: SyncStatus = { state: 'offline', label: 'offline', peers: 0 }

/// No network: offline, nobody else present.
export const noPeers: PeerSource = {
  available: false,
  presence: () => [],
  status: () => OFFLINE,
  setCursor: () => {},
  watch: () => () => {}
}

class NetworkPeers implements PeerSource {
  readonly available = true
  constructor(private readonly net: NetworkShape) {}

  private presenceOf(doc: SwarmDocument): PresenceShape | null {
    try {
      return this.net.presence(doc)
    } catch {
      return null // not (yet, or no longer) joined on the network
    }
  }

  presence(doc: SwarmDocument): RemotePresence[] {
    return this.presenceOf(doc)?.peers() ?? []
  }

  status(doc: SwarmDocument): SyncStatus {
    try {
      const s = this.net.documentStatus(doc)
      return { state: s.state, label: s.label, peers: s.peers }
    } catch {
      return OFFLINE
    }
  }

  setCursor(doc: SwarmDocument, cursor: { anchor: number; head: number } | null): void {
    try {
      this.net.setCursor(doc, cursor)
    } catch {
      // not joined on the network: nobody to tell
    }
  }

  watch(doc: SwarmDocument, onPresence: () => void, onStatus: () => void): () => void {
    const key = doc.key.toString('hex')
    const statusListener = (...args: unknown[]) => {
      const s = args[0] as { key?: unknown } | undefined
      if (s !== undefined && s.key === key) onStatus()
    }
    let presence: PresenceShape | null = null
    const attach = () => {
      if (presence !== null) return
      presence = this.presenceOf(doc)
      presence?.on('update', onPresence)
    }
    attach()
    // The network joins a document when it opens; if the authority got
    // there first, attach on the first status event.
    const lateAttach = (...args: unknown[]) => {
      statusListener(...args)
      if (presence === null) {
        attach()
        if (presence !== null) onPresence()
      }
    }
    this.net.on('status', lateAttach)
    return () => {
      this.net.off('status', lateAttach)
      presence?.off('update', onPresence)
    }
  }
}

export const PeerSource = {
  /// Adapt a network object (src/net's Network) or null.
  of(network: unknown): PeerSource {
    return isNetwork(network) ? new NetworkPeers(network) : noPeers
  }
}
