import makeMdns from 'multicast-dns'
import { isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { RemoteInfo } from 'node:dgram'
import { Resource } from '../resource.js'
import { BootstrapNode, type NodeAddress } from './bootstrap.js'

// LAN discovery with no internet and no bootstrap node.
//
// On every local IPv4 interface this device runs a small persistent DHT node
// (the same kind `swarmpad bootstrap` runs) bound to that interface's
// address, and announces only that node's host:port with multicast DNS. Each
// device adds the nodes it hears about to its own LAN nodes and to its swarm's
// DHT, so the devices on one network form a little DHT of their own: topic
// announcements, lookups and hole-punching relays (everything Hyperswarm and
// invites do over the DHT) work on an island LAN. The announcement holds no
// document key, discovery key or device key: only an address and a port.

/// The mDNS service name queried and announced (an SRV record).
export const LAN_SERVICE = '_swarmpad-dht._udp.local'

/// The mDNS group and port (RFC 6762).
export const MDNS_GROUP = '224.0.0.251'
export const MDNS_PORT = 5353

/// Interfaces used at most: each runs one DHT node and one mDNS socket.
export const MAX_LAN_INTERFACES = 4

/// LAN DHT nodes remembered at most: a network with more swarmpad devices
/// than this still works (the DHT finds the rest), and a spoofing host
/// cannot make us keep an unbounded list.
export const MAX_LAN_NODES = 64

/// How often each device repeats its announcement unasked (a lost packet or
/// a device that missed the first query is caught up within this).
export const LAN_ANNOUNCE_INTERVAL_MS = 10_000

/// Queries sent at start (ms after start): the first finds devices already
/// there, the others cover lost packets.
export const LAN_QUERY_SCHEDULE_MS = [0, 1000, 3000]

/// Least time between two answers on one interface, so a flood of queries
/// does not turn into a flood of answers.
export const LAN_MIN_ANSWER_INTERVAL_MS = 250

/// The record TTL announced (seconds), per RFC 6762's suggestion for SRV.
const RECORD_TTL = 120

export interface LanDiscoveryOptions {
  /// IPv4 addresses of the interfaces to use. Default: every non-internal
  /// IPv4 interface of this machine (or network namespace).
  interfaces?: string[]
  /// Called once for each newly discovered DHT node of another device.
  onNode?: (node: NodeAddress) => void
  /// The mDNS port (5353; other values only for experiments).
  port?: number
}

/// Non-internal IPv4 addresses of this machine's interfaces, at most MAX_LAN_INTERFACES.
export function lanAddresses(): string[] {
  const out: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family === 'IPv4' && !i.internal && !out.includes(i.address)) out.push(i.address)
    }
  }
  return out.slice(0, MAX_LAN_INTERFACES)
}

interface Interface {
  address: string
  node: BootstrapNode
  mdns: makeMdns.MulticastDNS
  lastAnswer: number
}

/// Stats of LAN discovery, for `swarmpad status`.
export interface LanStatus {
  enabled: true
  interfaces: string[]
  /// This device's LAN DHT nodes (what it announces).
  nodes: NodeAddress[]
  /// Other devices' LAN DHT nodes heard of.
  discovered: number
  warnings: number
}

/// Events: `node` (a DHT node another device announced), `warning`.
export class LanDiscovery extends Resource<{ node: [node: NodeAddress]; warning: [err: unknown] }> {
  private readonly options: LanDiscoveryOptions
  private readonly interfaces: Interface[] = []
  private readonly known = new Map<string, { node: NodeAddress; lastSeen: number }>()
  private readonly timers = new Set<NodeJS.Timeout>()
  warnings = 0
  lastWarning: string | null = null

  constructor(options: LanDiscoveryOptions = {}) {
    super()
    this.options = options
  }

  /// This device's LAN DHT nodes.
  get nodes(): NodeAddress[] {
    return this.interfaces.map((i) => i.node.address)
  }

  /// Other devices' LAN DHT nodes discovered so far.
  get discovered(): NodeAddress[] {
    return [...this.known.values()].map((k) => k.node)
  }

  status(): LanStatus {
    return { enabled: true, interfaces: this.interfaces.map((i) => i.address), nodes: this.nodes, discovered: this.known.size, warnings: this.warnings }
  }

  protected override async _open(): Promise<void> {
    const addresses = (this.options.interfaces ?? lanAddresses()).filter((a) => isIPv4(a) && a !== '0.0.0.0').slice(0, MAX_LAN_INTERFACES)
    for (const address of addresses) {
      const node = new BootstrapNode({ host: address })
      this.own(node)
      await node.ready()
      const mdns = makeMdns({
        interface: address,
        // Bound to the group address: the socket gets mDNS multicast only,
        // and membership/sending are tied to this one interface.
        bind: MDNS_GROUP,
        port: this.options.port ?? MDNS_PORT,
        reuseAddr: true
      })
      const iface: Interface = { address, node, mdns, lastAnswer: 0 }
      this.own({ close: () => new Promise<void>((resolve) => mdns.destroy(() => resolve())) })
      mdns.on('error', (err: Error) => this.warn(err))
      mdns.on('warning', (err: Error) => this.warn(err))
      mdns.on('query', (query, rinfo) => this.onQuery(iface, query, rinfo))
      mdns.on('response', (response, rinfo) => this.onResponse(response, rinfo))
      this.interfaces.push(iface)
      // Every node of this device knows the others of this device.
      for (const other of this.interfaces) {
        if (other !== iface) {
          other.node.addNode(node.address)
          node.addNode(other.node.address)
        }
      }
    }
    for (const delay of LAN_QUERY_SCHEDULE_MS) this.later(delay, () => this.queryAll())
    this.later(200, () => this.announceAll())
    const interval = setInterval(() => this.announceAll(), LAN_ANNOUNCE_INTERVAL_MS)
    interval.unref()
    this.timers.add(interval)
  }

  protected override async _close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /// Ask the network for swarmpad DHT nodes now.
  queryAll(): void {
    if (this.closingOrClosed) return
    for (const i of this.interfaces) {
      i.mdns.query({ questions: [{ name: LAN_SERVICE, type: 'SRV' }] }, (err: Error | null) => {
        if (err) this.warn(err)
      })
    }
  }

  /// Announce this device's nodes unasked.
  announceAll(): void {
    if (this.closingOrClosed) return
    for (const i of this.interfaces) this.answer(i)
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    t.unref()
    this.timers.add(t)
  }

  private answer(i: Interface): void {
    if (this.closingOrClosed) return
    i.lastAnswer = Date.now()
    const { host, port } = i.node.address
    i.mdns.respond(
      { answers: [{ name: LAN_SERVICE, type: 'SRV', ttl: RECORD_TTL, data: { target: host, port, priority: 0, weight: 0 } }] },
      (err: Error | null) => {
        if (err) this.warn(err)
      }
    )
  }

  private onQuery(i: Interface, query: { questions?: Array<{ name?: unknown; type?: unknown }> }, _rinfo: RemoteInfo): void {
    try {
      const asked = (query.questions ?? []).some((q) => q.name === LAN_SERVICE && (q.type === 'SRV' || q.type === 'ANY'))
      if (!asked) return
      if (Date.now() - i.lastAnswer < LAN_MIN_ANSWER_INTERVAL_MS) return
      this.answer(i)
    } catch (err) {
      this.warn(err)
    }
  }

  private onResponse(response: { answers?: Array<{ name?: unknown; type?: unknown; data?: unknown }> }, rinfo: RemoteInfo): void {
    try {
      for (const a of response.answers ?? []) {
        if (a.name !== LAN_SERVICE || a.type !== 'SRV') continue
        const data = a.data as { port?: unknown } | undefined
        const port = data?.port
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue
        // The node is reached at the address the announcement came from; the
        // record's own target is not trusted (it could name any host).
        const host = rinfo.address
        if (!isIPv4(host)) continue
        this.add({ host, port })
      }
    } catch (err) {
      this.warn(err)
    }
  }

  private add(node: NodeAddress): void {
    if (this.closingOrClosed) return
    if (this.interfaces.some((i) => i.node.address.host === node.host && i.node.address.port === node.port)) return
    const id = `${node.host}:${node.port}`
    const seen = this.known.get(id)
    if (seen !== undefined) {
      seen.lastSeen = Date.now()
      return
    }
    if (this.known.size >= MAX_LAN_NODES) {
      // Forget the one heard from least recently.
      let oldest: string | null = null
      let oldestSeen = Infinity
      for (const [k, v] of this.known) {
        if (v.lastSeen < oldestSeen) {
          oldest = k
          oldestSeen = v.lastSeen
        }
      }
      if (oldest !== null) this.known.delete(oldest)
    }
    this.known.set(id, { node, lastSeen: Date.now() })
    for (const i of this.interfaces) i.node.addNode(node)
    this.options.onNode?.(node)
    this.emit('node', node)
  }

  private warn(err: unknown): void {
    this.warnings++
    this.lastWarning = err instanceof Error ? err.message : String(err)
    this.emit('warning', err)
  }
}
