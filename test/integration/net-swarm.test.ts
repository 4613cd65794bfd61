import { describe, expect, it } from 'vitest'
import { emptyUpdatesView } from '../helpers/sparse.js'
import b4a from 'b4a'
import { converged, createDevice, eventually, median, shareDocument, testnet, type Device } from '../helpers/net.js'
import { documentPeers } from '../../src/net/status.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import type { SwarmDocument } from '../../src/sync/document.js'

const hex = (k: Uint8Array) => b4a.toString(k, 'hex')

/// Every device is connected to every other exactly once.
async function fullyConnected(devices: Device[]): Promise<void> {
  await eventually(
    () => devices.every((d) => d.net!.peers.length === devices.length - 1 && d.net!.swarm.connections.size === devices.length - 1),
    `all ${devices.length} devices to connect (have ${devices.map((d) => d.net!.swarm.connections.size).join(', ')})`
  )
  for (const d of devices) {
    const others = devices.filter((o) => o !== d).map((o) => hex(o.net!.publicKey)).sort()
    expect([...d.net!.peers].sort()).toEqual(others)
  }
}

describe('swarm on a loopback testnet', () => {
  it('two devices join, converge, leave and rejoin; one connection for two shared documents', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const [da, db] = await shareDocument(a, [b], 'notes', 'hello')
    const [ta, tb] = await shareDocument(a, [b], 'todo', 'milk')
    await converged([da!, db!], 'hello')
    await converged([ta!, tb!], 'milk')
    db!.edit([{ from: 5, insert: ' world' }])
    tb!.edit([{ from: 4, insert: ', eggs' }])
    await converged([da!, db!], 'hello world')
    await converged([ta!, tb!], 'milk, eggs')
    // Two topics in common, still one connection each way (Hyperswarm dedupes by device key).
    await fullyConnected([a, b])
    expect(a.net!.peers).toEqual([hex(b.net!.publicKey)])

    await b.offline()
    await eventually(() => a.net!.peers.length === 0, 'a to see b leave')
    da!.edit([{ from: 0, insert: '> ' }])
    db!.edit([{ from: db!.text.length, insert: '!' }])
    expect(da!.text.toString()).toBe('> hello world')
    await b.online()
    await converged([da!, db!], '> hello world!')
    await fullyConnected([a, b])
  })

  it('a closed document leaves its topic; reopening joins it again', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const [da, db] = await shareDocument(a, [b], 'notes', 'one')
    await converged([da!, db!], 'one')
    const topic = da!.discoveryKey
    expect(b.net!.swarm.status(topic)).not.toBeNull()
    await b.sp.closeDocument('notes')
    await eventually(() => b.net!.swarm.status(topic) === null, 'b to leave the topic')
    da!.edit([{ from: 3, insert: ' two' }])
    const { doc: again } = await b.sp.open('notes')
    expect(b.net!.swarm.status(topic)).not.toBeNull()
    await converged([da!, again], 'one two')
  })

  it('three devices: concurrent edits converge, one leaves and rejoins', async () => {
    const t = await testnet()
    const devices = [await createDevice(t, { name: 'a' }), await createDevice(t, { name: 'b' }), await createDevice(t, { name: 'c' })]
    const docs = await shareDocument(devices[0]!, devices.slice(1), 'notes', '')
    await fullyConnected(devices)
    docs.forEach((d, i) => d.edit([{ from: 0, insert: `[${i}]` }]))
    await converged(docs)
    expect(docs[0]!.text.length).toBe(9)

    await devices[2]!.offline()
    docs[0]!.edit([{ from: 0, insert: 'A' }])
    docs[2]!.edit([{ from: docs[2]!.text.length, insert: 'C' }])
    await converged(docs.slice(0, 2))
    expect(docs[0]!.text.toString()).not.toContain('C')
    await devices[2]!.online()
    await converged(docs)
    expect(docs[0]!.text.toString()).toMatch(/^A.*C$/)
  })

  it('five devices: everyone writes, two leave, the rest go on, both rejoin', async () => {
    const t = await testnet()
    const devices: Device[] = []
    for (const n of ['a', 'b', 'c', 'd', 'e']) devices.push(await createDevice(t, { name: n }))
    const docs = await shareDocument(devices[0]!, devices.slice(1), 'notes', '')
    await fullyConnected(devices)
    for (let round = 0; round < 3; round++) docs.forEach((d, i) => d.edit([{ from: d.text.length, insert: `${'abcde'[i]}${round} ` }]))
    await converged(docs)
    for (let i = 0; i < 5; i++) for (let r = 0; r < 3; r++) expect(docs[0]!.text.toString()).toContain(`${'abcde'[i]}${r} `)

    await devices[3]!.offline()
    await devices[4]!.offline()
    docs[1]!.edit([{ from: 0, insert: 'while away: ' }])
    docs[4]!.edit([{ from: 0, insert: 'offline edit. ' }])
    await converged(docs.slice(0, 3))
    await devices[3]!.online()
    await devices[4]!.online()
    await converged(docs)
    await fullyConnected(devices)
    const text = docs[0]!.text.toString()
    expect(text).toContain('while away: ')
    expect(text).toContain('offline edit. ')
  })

  it('a late joiner catches up from a snapshot without downloading every update', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('big')
    const total = SNAPSHOT_INTERVAL * 2 + 40
    for (let i = 0; i < total; i++) await doc.edit([{ from: doc.text.length, insert: i % 64 === 63 ? '\n' : 'x' }]).durable
    expect(doc.updateCount).toBe(total)
    const expected = doc.text.toString()

    const b = await createDevice(t, { name: 'b' })
    await b.sp.addDocument({ name: 'big', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
    const { doc: late } = await b.sp.open('big')
    await converged([doc, late], expected, 45_000)
    const updates = late.autobase.view.updates
    expect(updates.length).toBe(total)
    let held = 0
    for (let i = 0; i < updates.length; i++) if (await updates.has(i)) held++
    // The newest snapshot covers the first 2 * SNAPSHOT_INTERVAL updates: only
    // the tail after it (and not the whole history) had to come over.
    expect(held).toBeLessThan(total - SNAPSHOT_INTERVAL)
    console.log(`late joiner holds ${held} of ${total} update entries`)
  })

  it('a document whose open needs blocks from peers (its view lost them) finds the peers while it opens', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('sparse')
    for (let i = 0; i < 40; i++) await doc.edit([{ from: doc.text.length, insert: `line ${i}\n` }]).durable
    const expected = doc.text.toString()
    const b = await createDevice(t, { name: 'b' })
    await b.sp.addDocument({ name: 'sparse', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
    const { doc: copy } = await b.sp.open('sparse')
    await converged([doc, copy], expected, 30_000)
    const updatesKey = copy.autobase.view.updates.key
    await b.close()
    // As after a fast-forward (or a crash before the blocks came): the view
    // holds none of its entries, and there is no checkpoint to open from.
    await emptyUpdatesView(b.dir, updatesKey)

    // Before the fix the network joined a document's topic only once it was
    // open, and this open waited for blocks forever.
    const again = await createDevice(t, { name: 'b', dir: b.dir })
    const opened = await Promise.race([again.sp.open('sparse'), new Promise<null>((r) => setTimeout(() => r(null), 20_000))])
    expect(opened, 'the open to finish').not.toBeNull()
    expect(opened!.doc.text.toString()).toBe(expected)
  })

  it('a device that knows only the discovery key connects but gets no core and no presence', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('secret', { text: 'the plans' })
    const stranger = await createDevice(t, { name: 'stranger' })
    stranger.net!.swarm.join(doc.discoveryKey)
    await eventually(() => a.net!.peers.includes(hex(stranger.net!.publicKey)), 'the stranger to connect')
    await new Promise((r) => setTimeout(r, 1500)) // a presence heartbeat and replication rounds
    expect(documentPeers(doc).has(hex(stranger.net!.publicKey))).toBe(false)
    expect(a.net!.documentStatus(doc).peers).toBe(0)
    expect(stranger.net!.presenceStats.received).toBe(0)
    // Nothing of the document reached the stranger's storage.
    let cores = 0
    for await (const _ of stranger.sp.store.list(doc.discoveryKey)) cores++
    expect(cores).toBe(0)
  })

  it('measures the time from join to the first replicated block', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('timed', { text: 'first block' })
    const times: number[] = []
    for (let run = 0; run < 5; run++) {
      const b = await createDevice(t, { name: `b${run}`, online: false })
      await b.sp.addDocument({ name: 'timed', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
      const { doc: copy } = await b.sp.open('timed')
      const start = performance.now()
      await b.online()
      await eventually(() => copy.text.toString() === 'first block', 'the first block', 20_000)
      times.push(performance.now() - start)
      await b.close()
    }
    console.log(`testnet join -> first replicated block: median ${median(times).toFixed(0)} ms (runs: ${times.map((x) => x.toFixed(0)).join(', ')})`)
    expect(times.length).toBe(5)
  })
})

export type { SwarmDocument }
