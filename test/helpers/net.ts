import createTestnet, { type Testnet } from 'hyperdht/testnet'
import { onTestFinished } from 'vitest'
import { Swarmpad } from '../../src/swarmpad.js'
import { Network, type NetworkOptions } from '../../src/net/network.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { tmpDir } from './tmp.js'
import { eventually } from './docs.js'

export { eventually }

/// A loopback DHT testnet (127.0.0.1 only), destroyed after the test.
export async function testnet(size = 3): Promise<Testnet> {
  const t = await createTestnet(size, { host: '127.0.0.1' })
  onTestFinished(() => t.destroy())
  return t
}

export interface Device {
  name: string
  dir: string
  sp: Swarmpad
  net: Network | null
  /// Start (or restart) this device's network on the testnet.
  online(opts?: Partial<NetworkOptions>): Promise<Network>
  /// Close the network only (the device keeps its storage and documents open).
  offline(): Promise<void>
  /// Close everything; reopen() starts a fresh Swarmpad on the same directory.
  close(): Promise<void>
  reopen(): Promise<Device>
}

/// A device: a Swarmpad in its own temporary directory, and (unless
/// `online: false`) a Network on the loopback testnet with LAN discovery off.
/// Everything is closed after the test.
export async function createDevice(
  net: Pick<Testnet, 'bootstrap'>,
  opts: { name?: string; dir?: string; online?: boolean; network?: Partial<NetworkOptions>; ackInterval?: number } = {}
): Promise<Device> {
  const dir = opts.dir ?? (await tmpDir('swarmpad-net-'))
  const sp = new Swarmpad({ home: dir, ackInterval: opts.ackInterval ?? 50 })
  await sp.ready()
  const device: Device = {
    name: opts.name ?? 'device',
    dir,
    sp,
    net: null,
    async online(extra = {}) {
      if (device.net !== null && !device.net.closingOrClosed) return device.net
      const n = new Network(sp, { bootstrap: net.bootstrap, host: '127.0.0.1', lan: false, ...opts.network, ...extra })
      n.on('warning', () => {})
      device.net = n
      await n.ready()
      return n
    },
    async offline() {
      const n = device.net
      device.net = null
      if (n !== null) await n.close()
    },
    async close() {
      await device.offline()
      await sp.close()
    },
    async reopen() {
      await device.close()
      return createDevice(net, { ...opts, dir, name: device.name })
    }
  }
  onTestFinished(() => device.close().catch(() => {}))
  if (opts.online !== false) await device.online()
  return device
}

/// Create a document on `owner` and give every other device a writer copy:
/// library entry, open, added as a member by the owner.
export async function shareDocument(owner: Device, others: Device[], name = 'notes', text = ''): Promise<SwarmDocument[]> {
  const { doc } = await owner.sp.create(name, text === '' ? {} : { text })
  const docs = [doc]
  for (const d of others) {
    await d.sp.addDocument({ name, key: doc.key, encryptionKey: doc.encryptionKey, role: 'writer' })
    const { doc: copy } = await d.sp.open(name)
    await doc.addMember(copy.writerKey, 'writer')
    docs.push(copy)
  }
  // A new member can write once the block adding it has reached it.
  if (others.every((d) => d.net !== null)) await eventually(() => docs.every((d) => d.writable), 'every copy to become writable')
  return docs
}

/// Wait until all documents have the same text (and optionally that text).
export async function converged(docs: SwarmDocument[], expected?: string, ms = 30_000): Promise<void> {
  await eventually(
    async () => {
      const first = docs[0]!.text.toString()
      if (expected !== undefined && first !== expected) return false
      return docs.every((d) => d.text.toString() === first)
    },
    `documents to converge${expected !== undefined ? ` on ${JSON.stringify(expected.slice(0, 40))}` : ''} (have ${docs.map((d) => JSON.stringify(d.text.toString().slice(0, 40))).join(', ')})`,
    ms
  )
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
