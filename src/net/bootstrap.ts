import HyperDHT from 'hyperdht'
import { isIPv4 } from 'node:net'
import { createSocket } from 'node:dgram'
import { Resource } from '../resource.js'
import { SwarmpadError } from '../errors.js'

/// A DHT node address: what `--bootstrap` takes and `swarmpad bootstrap` prints.
export interface NodeAddress {
  host: string
  port: number
}

/// Most bootstrap nodes one `--bootstrap` value may list. Hyperswarm needs one
/// reachable node; a few give redundancy; hundreds are a mistake.
export const MAX_BOOTSTRAP_NODES = 32

/// Parse `host:port[,host:port...]` (the `--bootstrap` option and
/// `SWARMPAD_BOOTSTRAP`). Hosts are IPv4 addresses or DNS names; ports 1-65535.
/// Throws a SwarmpadError('USAGE') naming the value that is wrong.
export function parseBootstrap(text: string): NodeAddress[] {
  const value = text.trim()
  if (value === '') throw SwarmpadError.usage('--bootstrap needs host:port[,host:port...], got an empty value')
  const parts = value.split(',').map((p) => p.trim())
  if (parts.length > MAX_BOOTSTRAP_NODES) {
    throw SwarmpadError.usage(`--bootstrap lists ${parts.length} nodes; at most ${MAX_BOOTSTRAP_NODES}`)
  }
  return parts.map((part) => parseNode(part, value))
}

function parseNode(part: string, whole: string): NodeAddress {
  if (part === '') throw SwarmpadError.usage(`invalid --bootstrap "${whole}": an empty entry between commas`)
  const colon = part.lastIndexOf(':')
  if (colon === -1) throw SwarmpadError.usage(`invalid bootstrap node "${part}": missing :port (expected host:port)`)
  const host = part.slice(0, colon)
  const portText = part.slice(colon + 1)
  if (host === '') throw SwarmpadError.usage(`invalid bootstrap node "${part}": missing host (expected host:port)`)
  if (host.includes(':') || host.includes('[')) {
    throw SwarmpadError.usage(`invalid bootstrap node "${part}": only IPv4 addresses and host names are supported`)
  }
  if (!isIPv4(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(host)) {
    throw SwarmpadError.usage(`invalid bootstrap node "${part}": "${host}" is not an IPv4 address or host name`)
  }
  if (portText === '') throw SwarmpadError.usage(`invalid bootstrap node "${part}": missing port after ":"`)
  if (!/^[0-9]{1,5}$/.test(portText)) throw SwarmpadError.usage(`invalid bootstrap node "${part}": port "${portText}" is not a number`)
  const port = Number(portText)
  if (port < 1 || port > 65535) throw SwarmpadError.usage(`invalid bootstrap node "${part}": port ${port} is out of range (1-65535)`)
  return { host, port }
}

/// `host:port,host:port` for a list of nodes (the inverse of parseBootstrap).
export function formatBootstrap(nodes: readonly NodeAddress[]): string {
  return nodes.map((n) => `${n.host}:${n.port}`).join(',')
}

/// A free UDP port on `host` right now (a later bind may still lose a race).
export async function freeUdpPort(host: string): Promise<number> {
  const socket = createSocket('udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, host, () => resolve())
    })
    return socket.address().port
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }
}

export interface BootstrapNodeOptions {
  /// The IPv4 address the node binds to and that others reach it at.
  /// Not 0.0.0.0: a bootstrap node must know the one address it is reached at.
  host: string
  /// UDP port; 0 or unset picks a free one. HyperDHT's usual one is 49737.
  port?: number
  /// Other DHT nodes this one should know (e.g. other bootstrap nodes).
  bootstrap?: NodeAddress[]
}

/// A running HyperDHT bootstrap node (`swarmpad bootstrap`). It is a full,
/// persistent DHT node: devices that list it in `--bootstrap` enter the DHT
/// through it, and on a private network it also stores their announcements.
export class BootstrapNode extends Resource {
  readonly host: string
  private requestedPort: number
  private readonly bootstrap: NodeAddress[]
  dht!: HyperDHT

  constructor(options: BootstrapNodeOptions) {
    super()
    const { host, port = 0, bootstrap = [] } = options
    if (!isIPv4(host) || host === '0.0.0.0') {
      throw SwarmpadError.usage(`a bootstrap node needs the IPv4 address it is reached at (--host), not "${host}"`)
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw SwarmpadError.usage(`invalid --port ${port}: expected 1-65535`)
    }
    this.host = host
    this.requestedPort = port
    this.bootstrap = bootstrap
  }

  /// The port it listens on (once ready).
  get port(): number {
    return this.requestedPort
  }

  /// The address to give the others (`--bootstrap host:port`).
  get address(): NodeAddress {
    return { host: this.host, port: this.requestedPort }
  }

  /// `host:port`, as `--bootstrap` takes it.
  get addressText(): string {
    return formatBootstrap([this.address])
  }

  /// Make this node know another DHT node (LAN discovery uses this).
  addNode(node: NodeAddress): void {
    if (this.opened && !this.closingOrClosed) this.dht.addNode(node)
  }

  protected override async _open(): Promise<void> {
    if (this.requestedPort === 0) this.requestedPort = await freeUdpPort(this.host)
    // bootstrapper() binds host:port exactly (no other port), records its own
    // address and skips the firewall probe: it is persistent at once, so it
    // answers lookups and stores announcements from the first second.
    const dht = HyperDHT.bootstrapper(this.requestedPort, this.host, { bootstrap: this.bootstrap })
    this.dht = dht
    this.own({ close: () => dht.destroy() })
    try {
      await dht.fullyBootstrapped()
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      const code = (err as { code?: unknown } | null)?.code
      if (code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(message)) throw new SwarmpadError('PORT_IN_USE', `UDP port ${this.requestedPort} on ${this.host} is in use`, { cause: err })
      throw err
    }
    const bound = dht.address()
    if (bound === null) throw new SwarmpadError('INTERNAL', `the bootstrap node on ${this.host}:${this.requestedPort} did not bind`)
  }
}

/// Start a DHT bootstrap node on host:port and wait until it listens.
/// `node.addressText` is what the others pass to `--bootstrap`.
export async function runBootstrapNode(options: BootstrapNodeOptions): Promise<BootstrapNode> {
  const node = new BootstrapNode(options)
  await node.ready()
  return node
}
