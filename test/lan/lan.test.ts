import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLan, lanUnavailable, lockNamespaces, NamespaceDevice, type Lan } from './netns.js'

// Three devices in network namespaces on one bridge, with NO bootstrap node
// and no route to anywhere else, find each other by LAN discovery (mDNS
// announcing only each device's LAN DHT node) and converge. Each device is a
// child process (test/lan/device.mjs) on a build of src/ made here.

const root = resolve(import.meta.dirname, '../..')
const script = join(root, 'test/lan/device.mjs')
const dist = join(root, '.swarmpad-test-lan/dist')
const reason = lanUnavailable()
if (reason !== null) console.log(`skipping LAN tests: ${reason}`)

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

describe.skipIf(reason !== null)('LAN discovery in network namespaces (no bootstrap)', () => {
  let lan: Lan | null = null
  const devices: NamespaceDevice[] = []
  const homes: string[] = []

  async function device(ns: string): Promise<NamespaceDevice> {
    const home = await mkdtemp(join(tmpdir(), 'swarmpad-lan-'))
    homes.push(home)
    const d = new NamespaceDevice(ns, script, dist, home)
    devices.push(d)
    await d.ready
    return d
  }

  let unlock: (() => void) | null = null

  beforeAll(async () => {
    unlock = await lockNamespaces()
    // A build of src/ of our own, so a stale or absent dist/ does not matter.
    const build = spawnSync('npx', ['tsc', '-p', '.', '--outDir', dist], { cwd: root, encoding: 'utf8' })
    if (!existsSync(join(dist, 'net/network.js'))) throw new Error(`build failed: ${build.stdout}${build.stderr}`)
    lan = createLan(4)
  }, 400_000)

  afterAll(async () => {
    await Promise.allSettled(devices.map((d) => d.stop()))
    lan?.destroy()
    unlock?.()
    await Promise.allSettled(homes.map((h) => rm(h, { recursive: true, force: true })))
  }, 60_000)

  it('three devices find each other with no bootstrap and converge', async () => {
    const [n1, n2, n3] = lan!.namespaces
    const [d1, d2, d3] = [await device(n1!), await device(n2!), await device(n3!)]
    for (const d of [d1, d2, d3]) {
      const started = await d.call<{ lan: { enabled: boolean; nodes: Array<{ host: string }> } }>('start')
      expect(started.lan.enabled).toBe(true)
      expect(started.lan.nodes.map((n) => n.host)).toHaveLength(1)
    }
    const doc = await d1.call<{ key: string; encryptionKey: string }>('create', { name: 'notes', text: 'island' })
    for (const d of [d2, d3]) {
      const { writerKey } = await d.call<{ writerKey: string }>('add', { name: 'notes', key: doc.key, encryptionKey: doc.encryptionKey })
      await d1.call('addMember', { name: 'notes', writerKey })
    }
    for (const d of [d2, d3]) expect((await d.call<{ writable: boolean }>('waitWritable', { name: 'notes', timeout: 30_000 })).writable).toBe(true)

    await d2.call('edit', { name: 'notes', at: 0, insert: 'B:' })
    for (const d of [d1, d2, d3]) expect((await d.call<{ reached: boolean; text: string }>('waitText', { name: 'notes', text: 'B:island' })).reached).toBe(true)
    await d3.call('edit', { name: 'notes', at: 99, insert: '!' })
    await d1.call('edit', { name: 'notes', at: 0, insert: '# ' })
    for (const d of [d1, d2, d3]) {
      const r = await d.call<{ reached: boolean; text: string }>('waitText', { name: 'notes', text: '# B:island!' })
      expect(r.text).toBe('# B:island!')
    }
    // Connections can still be settling (a replaced duplicate): ask until both peers show, for a while.
    let status = await d1.call<{ peers: number; bootstrap: string; lan: { discovered: number } }>('status')
    for (let i = 0; i < 100 && status.peers !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100))
      status = await d1.call<{ peers: number; bootstrap: string; lan: { discovered: number } }>('status')
    }
    expect(status.bootstrap).toBe('none')
    expect(status.peers).toBe(2)
    expect(status.lan.discovered).toBeGreaterThanOrEqual(2)
    for (const d of [d1, d2, d3]) await d.stop()
  }, 120_000)

  it('a writer invite made on one device is joined on another over the island LAN (no bootstrap)', async () => {
    const [n1, n2] = lan!.namespaces
    const owner = await device(n1!)
    const guest = await device(n2!)
    await owner.call('start')
    await guest.call('start')
    await owner.call('create', { name: 'plan', text: 'agenda' })
    const { code } = await owner.call<{ code: string }>('invite', { name: 'plan', role: 'writer' })
    const joined = await guest.call<{ name: string; role: string; ms: number }>('join', { code, name: 'plan' })
    expect(joined).toMatchObject({ name: 'plan', role: 'writer' })
    console.log(`LAN invite -> joined in ${joined.ms.toFixed(0)} ms`)
    expect((await guest.call<{ writable: boolean }>('waitWritable', { name: 'plan', timeout: 30_000 })).writable).toBe(true)
    await guest.call('edit', { name: 'plan', at: 99, insert: ' + notes' })
    for (const d of [owner, guest]) {
      const r = await d.call<{ reached: boolean; text: string }>('waitText', { name: 'plan', text: 'agenda + notes' })
      expect(r.text).toBe('agenda + notes')
    }
    await owner.stop()
    await guest.stop()
  }, 120_000)

  it('measures the time from join to the first replicated block on the LAN', async () => {
    const [n1, , , n4] = lan!.namespaces
    const owner = await device(n1!)
    await owner.call('start')
    const doc = await owner.call<{ key: string; encryptionKey: string }>('create', { name: 'timed', text: 'first block' })
    const times: number[] = []
    for (let run = 0; run < 5; run++) {
      const reader = await device(n4!)
      await reader.call('add', { name: 'timed', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
      await reader.call('start')
      const r = await reader.call<{ reached: boolean; sinceJoin: number }>('waitText', { name: 'timed', text: 'first block', timeout: 30_000 })
      if (!r.reached) console.log('run', run, 'not reached', JSON.stringify(await reader.call('status')), JSON.stringify(await owner.call('status')))
      expect(r.reached).toBe(true)
      times.push(r.sinceJoin)
      await reader.stop()
    }
    console.log(`LAN join -> first replicated block: median ${median(times).toFixed(0)} ms (runs: ${times.map((x) => x.toFixed(0)).join(', ')})`)
    await owner.stop()
  }, 180_000)
})
