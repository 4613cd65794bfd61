// Which devices are online in a document and when one was last seen: the
// input of the membership projection (src/doc/member-projection.ts), which
// decides who is online.
//
// The network layer knows best (its presence channel is bound to each
// connection's remote key and checked against membership: the daemon gives
// Members that); anything that implements PresenceSource can be given to
// Members. SwarmPresence is a small default that looks at a Hyperswarm's
// connections only (tests of pairing without a Network).
import b4a from 'b4a'
import type { EventEmitter } from 'node:events'

export interface PresenceSource {
  /// Device (swarm) keys (hex) online in a document now.
  onlineDevices(docKey: Uint8Array): ReadonlySet<string>
  /// When device `deviceHex` was last seen online (ms since the epoch), null when never.
  lastSeen(docKey: Uint8Array, deviceHex: string): number | null
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

  onlineDevices(_docKey: Uint8Array): ReadonlySet<string> {
    return new Set(this.open.keys())
  }

  lastSeen(_docKey: Uint8Array, deviceHex: string): number | null {
    return this.open.has(deviceHex) ? this.now() : (this.seen.get(deviceHex) ?? null)
  }

  close(): void {
    this.swarm.off('connection', this.onConnection)
  }
}
