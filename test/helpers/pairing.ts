// Devices for pairing tests: a Swarmpad in its own storage root, a Hyperswarm
// on the loopback testnet, Invites and Members on top.
//
// `attachNetwork` does the part of the network layer (src/net) pairing needs
// and nothing more (no presence, status or LAN): every swarm connection
// replicates the whole Corestore, and every open document's discovery key is
// joined. The daemon tests cover pairing with the whole network layer.
// Network safety: swarms come from loopbackTestnet() only (127.0.0.1).
import b4a from 'b4a'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'
import { Swarmpad, type OpenDocument } from '../../src/swarmpad.js'
import { Invites, Members, SwarmPresence, type InvitesOptions, type PairingSwarm } from '../../src/pairing/index.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import type { TestnetHandle, TestSwarm, SwarmConnection } from './testnet.js'
import { tmpDir } from './tmp.js'

export type DeviceSwarm = TestSwarm & PairingSwarm

export interface Device {
  label: string
  home: string
  swarmpad: Swarmpad
  swarm: DeviceSwarm
  invites: Invites
  members: Members
  presence: SwarmPresence
  /// Open a document of the library (by name) and return it.
  doc(name: string): Promise<SwarmDocument>
  /// Take the device offline: close invites, swarmpad and swarm.
  close(): Promise<void>
}

export interface DeviceOptions {
  label?: string
  home?: string
  invites?: InvitesOptions
  /// Autobase ack interval of every document (ms); short in tests so indexers sign quickly.
  ackInterval?: number
}

/// Replicate every connection and join every open document's topic, as the network layer does.
export function attachNetwork(swarmpad: Swarmpad, swarm: TestSwarm): () => void {
  const sessions = new Map<string, { destroy(): Promise<void> }>()
  const onConnection = (conn: SwarmConnection) => {
    conn.on('error', () => {})
    swarmpad.store.replicate(conn)
  }
  const onOpen = ({ doc }: OpenDocument) => {
    const id = b4a.toString(doc.discoveryKey, 'hex')
    if (!sessions.has(id)) sessions.set(id, swarm.join(doc.discoveryKey, { server: true, client: true }) as { destroy(): Promise<void> })
  }
  const onClose = ({ doc }: OpenDocument) => {
    const id = b4a.toString(doc.discoveryKey, 'hex')
    const s = sessions.get(id)
    sessions.delete(id)
    void s?.destroy().catch(() => {})
  }
  for (const conn of swarm.connections) onConnection(conn)
  swarm.on('connection', onConnection)
  swarmpad.on('document-open', onOpen)
  swarmpad.on('document-close', onClose)
  for (const open of swarmpad.documents) onOpen(open)
  return () => {
    swarm.off('connection', onConnection)
    swarmpad.off('document-open', onOpen)
    swarmpad.off('document-close', onClose)
  }
}

/// A device on the testnet, closed when the test finishes.
export async function createDevice(net: TestnetHandle, opts: DeviceOptions = {}): Promise<Device> {
  const home = opts.home ?? (await tmpDir('swarmpad-pairing-'))
  const swarmpad = new Swarmpad({ home, ackInterval: opts.ackInterval ?? 100 })
  swarmpad.on('document-error', (_doc, err) => console.error(`[${opts.label ?? 'device'}] document error`, err))
  await swarmpad.ready()
  const swarm = net.swarm() as DeviceSwarm
  const detach = attachNetwork(swarmpad, swarm)
  const invites = new Invites(swarmpad, swarm, opts.invites ?? {})
  invites.on('follow-error', (err) => console.error(`[${opts.label ?? 'device'}] follow error`, err))
  await invites.ready()
  const presence = new SwarmPresence(swarm)
  const members = new Members(swarmpad, { presence, invites, deviceKey: swarm.keyPair.publicKey })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    presence.close()
    await invites.close().catch(() => {})
    await swarmpad.close().catch(() => {})
    detach()
    await swarm.destroy().catch(() => {})
  }
  onTestFinished(close)
  return {
    label: opts.label ?? 'device',
    home,
    swarmpad,
    swarm,
    invites,
    members,
    presence,
    async doc(name: string) {
      return (await swarmpad.open(name)).doc
    },
    close
  }
}

/// Poll until `check` holds or `ms` pass; fails with `what`.
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/// Wait until every document shows `text`.
/// A timeout names the texts the documents showed last (not at the start).
export async function untilText(docs: SwarmDocument[], text: string, ms = 20_000): Promise<void> {
  const have = () => docs.map((d) => JSON.stringify(d.text.toString().slice(0, 40))).join(', ')
  try {
    await until(async () => {
      for (const d of docs) await d.update().catch(() => {})
      return docs.every((d) => d.text.toString() === text)
    }, `text ${JSON.stringify(text.slice(0, 40))} on ${docs.length} documents`, ms)
  } catch (err) {
    throw new Error(`${(err as Error).message} (have ${have()})`)
  }
}

/// Every regular file under `dir`, recursively.
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await filesUnder(p)))
    else if (e.isFile()) out.push(p)
  }
  return out
}

/// Files under `dir` whose raw bytes contain any of `needles` (UTF-8), with the needle found.
export async function scanForPlaintext(dir: string, needles: string[]): Promise<Array<{ file: string; needle: string }>> {
  const hits: Array<{ file: string; needle: string }> = []
  const patterns = needles.map((n) => ({ n, bytes: Buffer.from(n, 'utf8') }))
  for (const file of await filesUnder(dir)) {
    if ((await stat(file)).size === 0) continue
    const data = await readFile(file)
    for (const p of patterns) if (data.includes(p.bytes)) hits.push({ file, needle: p.n })
  }
  return hits
}
