// A loopback HyperDHT testnet and Hyperswarms on it, for tests only.
//
// Network safety: every DHT node here is bound to 127.0.0.1 (createTestnet's
// own nodes and testnet.createNode()), and every swarm is given such a node
// explicitly, so nothing ever talks to the public bootstrap nodes or to a
// non-loopback address. Everything is torn down in onTestFinished (swarms
// first, then the testnet), so a failing test leaves no sockets behind.
import createTestnet from 'hyperdht/testnet'
import Hyperswarm from 'hyperswarm'
import { onTestFinished } from 'vitest'
import type { Duplex } from 'node:stream'

/// The parts of a Hyperswarm connection tests use.
export interface SwarmConnection extends Duplex {
  remotePublicKey: Buffer
}

/// The parts of Hyperswarm tests use.
export interface TestSwarm {
  keyPair: { publicKey: Buffer; secretKey: Buffer }
  connections: Set<SwarmConnection>
  join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): { flushed(): Promise<void>; destroy(): Promise<void> }
  leave(topic: Uint8Array): Promise<void>
  flush(): Promise<void>
  destroy(): Promise<void>
  on(event: 'connection', listener: (conn: SwarmConnection, info: unknown) => void): TestSwarm
  off(event: 'connection', listener: (conn: SwarmConnection, info: unknown) => void): TestSwarm
}

export interface TestnetHandle {
  /// Bootstrap addresses of the loopback testnet (all 127.0.0.1).
  bootstrap: Array<{ host: string; port: number }>
  /// A new Hyperswarm on the testnet (its DHT node bound to 127.0.0.1),
  /// destroyed when the test finishes (before the testnet).
  swarm(): TestSwarm
  /// Every remote address a swarm of this testnet connected to (must be 127.0.0.1 only).
  remoteHosts(): Set<string>
  destroy(): Promise<void>
}

interface Testnet {
  bootstrap: Array<{ host: string; port: number }>
  createNode(opts?: Record<string, unknown>): unknown
  destroy(): Promise<void>
}

/// Start a loopback testnet of `size` DHT nodes on 127.0.0.1, destroyed when
/// the test finishes. Call from inside a test.
export async function loopbackTestnet(size = 3): Promise<TestnetHandle> {
  const testnet = (await (createTestnet as unknown as (n: number, o: { host: string }) => Promise<Testnet>)(size, {
    host: '127.0.0.1'
  }))
  for (const b of testnet.bootstrap) {
    if (b.host !== '127.0.0.1') throw new Error(`testnet bootstrap ${b.host}:${b.port} is not loopback`)
  }
  const swarms: TestSwarm[] = []
  const hosts = new Set<string>()
  let destroyed = false
  const destroy = async () => {
    if (destroyed) return
    destroyed = true
    // Swarms first (they close their connections and their DHT node), then the testnet.
    for (const s of swarms.reverse()) await s.destroy().catch(() => {})
    await testnet.destroy().catch(() => {})
  }
  onTestFinished(destroy)
  return {
    bootstrap: testnet.bootstrap,
    swarm() {
      if (destroyed) throw new Error('testnet destroyed')
      // A node from the testnet: bound to 127.0.0.1, bootstrapped on the testnet only.
      const dht = testnet.createNode({ host: '127.0.0.1' })
      const swarm = new (Hyperswarm as unknown as new (o: Record<string, unknown>) => TestSwarm)({ dht })
      swarm.on('connection', (conn) => {
        const host = (conn as unknown as { rawStream?: { remoteHost?: string } }).rawStream?.remoteHost
        hosts.add(host ?? 'unknown')
      })
      swarms.push(swarm)
      return swarm
    },
    remoteHosts: () => hosts,
    destroy
  }
}

/// Anything that can replicate over a connection and be found by a topic
/// (a SwarmDocument).
export interface Replicable {
  discoveryKey: Uint8Array
  replicate(stream: Duplex): unknown
}

/// Put `doc` on `swarm`: join its discovery key and replicate every connection.
/// Resolves once the topic is announced. Returns a function that leaves it.
export async function joinSwarm(swarm: TestSwarm, doc: Replicable): Promise<() => Promise<void>> {
  const onConnection = (conn: SwarmConnection) => {
    conn.on('error', () => {})
    doc.replicate(conn)
  }
  swarm.on('connection', onConnection)
  const discovery = swarm.join(doc.discoveryKey, { server: true, client: true })
  await discovery.flushed()
  return async () => {
    swarm.off('connection', onConnection)
    await swarm.leave(doc.discoveryKey).catch(() => {})
  }
}
