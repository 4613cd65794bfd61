// The nemesis of the partition-chaos suite (TESTING.md 5, "Nemesis"): faults
// injected into devices that run a Swarmpad and a Network (src/net) on one
// loopback testnet.
//
//   partition(groups)  every device's Hyperswarm refuses the devices of the
//                      other groups (its firewall, the hook Hyperswarm calls
//                      before every connection, client or server side) and
//                      the connections between groups are destroyed
//   heal()             firewalls open, bans lifted, every topic looked up again
//   dropConnection()   one random live connection destroyed (Hyperswarm chaos)
//
// Restarts (close the device, open it again on the same storage) are done by
// the suite, which owns the devices. Hyperswarm has no public API to change a
// firewall after construction: this sets its `_firewall` and lifts its peer
// bans by hand (Hyperswarm 4.17).
import b4a from 'b4a'

/// What the nemesis needs of a device: its Hyperswarm and its device key
/// (a src/net Network, or a test's bare swarm with its key).
export interface Partitionable {
  readonly swarm: unknown
  readonly publicKey: Uint8Array
}
import type { Prng } from './prng.js'

interface PeerInfoLike {
  banned: boolean
  ban(value: boolean): void
}

interface SwarmInternals {
  _firewall: (remotePublicKey: Uint8Array, payload: unknown) => boolean
  peers: Map<string, PeerInfoLike>
  connections: Set<{ remotePublicKey: Uint8Array; destroy(err?: Error): void }>
  topics(): IterableIterator<{ refresh(): Promise<void> }>
  destroyed: boolean
}

function internals(net: Partitionable): SwarmInternals {
  return net.swarm as unknown as SwarmInternals
}

const hex = (k: Uint8Array) => b4a.toString(b4a.from(k), 'hex')

export class Nemesis {
  /// Device key (hex) -> group number while partitioned.
  private groups: Map<string, number> | null = null
  partitions = 0
  heals = 0
  drops = 0

  /// `networks()` gives the live networks (devices restart, so it is a function).
  constructor(private readonly networks: () => Partitionable[]) {}

  get partitioned(): boolean {
    return this.groups !== null
  }

  /// Split the devices into `groups` (arrays of indexes into networks()).
  partition(groups: number[][]): void {
    const nets = this.networks()
    const map = new Map<string, number>()
    groups.forEach((g, gi) => {
      for (const i of g) map.set(hex(nets[i]!.publicKey), gi)
    })
    this.groups = map
    this.partitions++
    for (const net of nets) this.apply(net)
  }

  /// Random halves (Jepsen's partition-random-halves).
  partitionRandomHalves(rng: Prng): number[][] {
    const order = rng.shuffle(this.networks().map((_, i) => i))
    const cut = rng.int(1, order.length - 1)
    const groups = [order.slice(0, cut), order.slice(cut)]
    this.partition(groups)
    return groups
  }

  /// Give a (re)started device the current partition.
  apply(net: Partitionable): void {
    const swarm = internals(net)
    if (swarm.destroyed) return
    const mine = this.groups?.get(hex(net.publicKey))
    const groups = this.groups
    swarm._firewall = (remote) => {
      if (groups === null || mine === undefined) return false
      const theirs = groups.get(hex(remote))
      return theirs !== undefined && theirs !== mine
    }
    if (groups === null || mine === undefined) return
    for (const conn of [...swarm.connections]) {
      const theirs = groups.get(hex(conn.remotePublicKey))
      if (theirs !== undefined && theirs !== mine) conn.destroy()
    }
  }

  /// Live connections that cross the partition (none should outlive it by long).
  crossings(): string[] {
    const groups = this.groups
    if (groups === null) return []
    const out: string[] = []
    for (const net of this.networks()) {
      const mine = groups.get(hex(net.publicKey))
      for (const conn of internals(net).connections) {
        const theirs = groups.get(hex(conn.remotePublicKey))
        if (mine !== undefined && theirs !== undefined && theirs !== mine) out.push(`${hex(net.publicKey).slice(0, 6)}->${hex(conn.remotePublicKey).slice(0, 6)}`)
      }
    }
    return out
  }

  heal(): void {
    this.groups = null
    this.heals++
    for (const net of this.networks()) {
      const swarm = internals(net)
      if (swarm.destroyed) continue
      swarm._firewall = () => false
      for (const p of swarm.peers.values()) if (p.banned) p.ban(false)
      for (const d of swarm.topics()) d.refresh().catch(() => {})
    }
  }

  /// Destroy one random live connection; false when there is none.
  dropConnection(rng: Prng): boolean {
    const conns = this.networks().flatMap((n) => [...internals(n).connections])
    if (conns.length === 0) return false
    rng.pick(conns).destroy()
    this.drops++
    return true
  }
}
