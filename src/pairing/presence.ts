// Whether a member's device is online and when it was last seen.
//
// The network layer knows best (its presence channel is bound to each
// connection's remote key and checked against membership); anything that
// implements PresenceSource can be given to Members. SwarmPresence is a
// small default that looks at a Hyperswarm's connections only.
import b4a from 'b4a'
import type { EventEmitter } from 'node:events'

export interface PresenceStatus {
  online: boolean
  /// ms since the epoch; now when online, null when never seen.
  lastSeen: number | null
}

export interface PresenceSource {
  /// The status of a member's device in a document: `writerKey` is its key in
  /// the document, `device` the swarm key it declared in its profile (null
  /// when it declared none). Null when unknown.
  status(docKey: Uint8Array, member: { writerKey: Uint8Array; device: Uint8Array | null }): PresenceStatus | null
}

/// The parts of a swarm connection SwarmPresence uses.
interface PresenceConnection extends EventEmitter {
  remotePublicKey: Uint8Array
}

/// The parts of a Hyperswarm SwarmPresence uses.
export interface PresenceSwarm {
  connections: Set<PresenceConnection> | Iterable<PresenceConnection>
  on(event: 'connection', listener: (conn: PresenceConnection) => void): unknown
  off(event: 'connection', listener: (conn: PresenceConnection) => void): unknown
}

/// Online = a connection with the device's declared swarm key is open.
/// Last seen = when the last such connection closed (this process's memory only).
export class SwarmPresence implements PresenceSource {
  private readonly open = new Map<string, number>()
  private readonly seen = new Map<string, number>()
  private readonly onConnection = (conn: PresenceConnection) => this.track(conn)

  constructor(private readonly swarm: PresenceSwarm, private readonly now: () => number = Date.now) {
    for (const conn of swarm.connections) this.track(conn)
    swarm.on('connection', this.onConnection)
  }

  private track(conn: PresenceConnection): void {
    const id = b4a.toString(conn.remotePublicKey, 'hex')
    this.open.set(id, (this.open.get(id) ?? 0) + 1)
    this.seen.set(id, this.now())
    conn.once('close', () => {
      const n = (this.open.get(id) ?? 1) - 1
      if (n <= 0) this.open.delete(id)
      else this.open.set(id, n)
      this.seen.set(id, this.now())
    })
  }

  status(_docKey: Uint8Array, member: { writerKey: Uint8Array; device: Uint8Array | null }): PresenceStatus | null {
    if (member.device === null) return null
    const id = b4a.toString(member.device, 'hex')
    if (this.open.has(id)) return { online: true, lastSeen: this.now() }
    return { online: false, lastSeen: this.seen.get(id) ?? null }
  }

  close(): void {
    this.swarm.off('connection', this.onConnection)
  }
}
