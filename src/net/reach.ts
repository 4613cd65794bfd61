import HyperDHT from 'hyperdht'
import { lookup } from 'node:dns/promises'
import { isIPv4 } from 'node:net'
import type { NodeAddress } from './bootstrap.js'

// Can this device reach its DHT bootstrap nodes at all?
//
// On an island LAN (no route to the internet) or behind a bootstrap node
// that never answers, a HyperDHT that lists those nodes spends 12 s or more
// in its bootstrap query, and every announcement, lookup and invite waits for
// it; after that it still believes it is firewalled and waits for hole
// punching that a LAN does not need. With LAN discovery on, the network asks
// first: one DHT ping to each bootstrap node, answered or not within a short
// deadline. When none answers, the device starts on the LAN alone (the island
// mode: no bootstrap, reachable directly), which finds LAN peers within a
// second or two.

/// How long the start waits for a bootstrap node to answer a ping.
export const BOOTSTRAP_PROBE_MS = 2000

/// HyperDHT's public bootstrap nodes as addresses (`ip@name:port` entries are
/// pinged at their IP, so no DNS lookup is needed).
export function publicBootstrapNodes(): NodeAddress[] {
  const out: NodeAddress[] = []
  for (const entry of HyperDHT.BOOTSTRAP) {
    const at = entry.indexOf('@')
    const colon = entry.lastIndexOf(':')
    if (colon === -1) continue
    const port = Number(entry.slice(colon + 1))
    const host = at === -1 ? entry.slice(0, colon) : entry.slice(0, at)
    if (Number.isInteger(port) && port > 0 && port < 65536 && host !== '') out.push({ host, port })
  }
  return out
}

export interface ReachOptions {
  /// Deadline for the first answer (default BOOTSTRAP_PROBE_MS).
  timeoutMs?: number
  /// Address the probe's UDP socket binds to (default all interfaces).
  host?: string
}

export interface Reachability {
  reachable: boolean
  /// The node that answered first, if any.
  answered: NodeAddress | null
  /// How long the probe took (ms).
  ms: number
}

/// Ping every node; resolves at the first answer, or with `reachable: false`
/// once the deadline passes with none (an unreachable network fails at once,
/// a silent node only at the deadline).
export async function probeBootstrap(nodes: readonly NodeAddress[], options: ReachOptions = {}): Promise<Reachability> {
  const t0 = performance.now()
  const timeoutMs = options.timeoutMs ?? BOOTSTRAP_PROBE_MS
  if (nodes.length === 0) return { reachable: false, answered: null, ms: 0 }
  const dht = new HyperDHT({ bootstrap: [], ephemeral: true, ...(options.host !== undefined ? { host: options.host } : {}) })
  let timer: NodeJS.Timeout | null = null
  try {
    await dht.ready()
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs)
    })
    const pings = nodes.map(async (node) => {
      const host = isIPv4(node.host) ? node.host : (await lookup(node.host, { family: 4 })).address
      await dht.ping({ host, port: node.port })
      return node
    })
    // The first to answer wins; the ones that fail are ignored.
    const first = Promise.any(pings).catch(() => null)
    for (const p of pings) p.catch(() => {})
    const answered = await Promise.race([first, deadline])
    return { reachable: answered !== null, answered, ms: performance.now() - t0 }
  } finally {
    if (timer !== null) clearTimeout(timer)
    await dht.destroy({ force: true }).catch(() => {})
  }
}
