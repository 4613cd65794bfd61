import { describe, expect, it } from 'vitest'
import { converged, createDevice, eventually, testnet } from '../helpers/net.js'
import type { DocumentSyncStatus } from '../../src/net/status.js'

describe('sync status', () => {
  it('goes offline -> saved on this device -> synced with 1 peer, and back to offline', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('notes', { text: 'draft' })
    const key = doc.key.toString('hex')
    const states: string[] = []
    a.net!.on('status', (s: DocumentSyncStatus) => {
      if (s.key === key && states[states.length - 1] !== s.label) states.push(s.label)
    })
    await doc.edit([{ from: 5, insert: ' one' }]).durable
    const first = a.net!.documentStatus(doc)
    expect(first.state).toBe('offline')
    expect(first.label).toBe('offline')
    expect(first.localLength).toBeGreaterThan(0)

    const b = await createDevice(t, { name: 'b' })
    await b.sp.addDocument({ name: 'notes', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
    const { doc: copy } = await b.sp.open('notes')
    await converged([doc, copy], 'draft one')
    await eventually(() => a.net!.documentStatus(doc).state === 'synced', 'a to be synced')
    const synced = a.net!.documentStatus(doc)
    expect(synced.label).toBe('synced with 1 peer')
    expect(synced.peers).toBe(1)
    expect(synced.confirmedLength).toBe(synced.localLength)
    expect(states.slice(0, 3)).toEqual(['offline', 'saved on this device', 'synced with 1 peer'])

    // A new block is "saved" until the peer holds it, then "synced" again.
    await doc.edit([{ from: 0, insert: '# ' }]).durable
    await eventually(() => a.net!.documentStatus(doc).state === 'synced' && a.net!.documentStatus(doc).confirmedLength === doc.autobase.local.length, 'the new block to be confirmed')

    const net = a.net!.status()
    expect(net.bootstrap).toBe(t.bootstrap.map((n) => `${n.host}:${n.port}`).join(','))
    expect(net.lan).toEqual({ enabled: false })
    expect(net.peers).toBe(1)
    expect(net.documents.map((d) => d.key)).toEqual([key])

    await b.offline()
    await eventually(() => a.net!.documentStatus(doc).state === 'offline', 'a to be offline again')
    expect(states[states.length - 1]).toBe('offline')
    expect(a.net!.status().peers).toBe(0)
  })

  it('changes arrive as events, not at a poll: a new block at once, its confirmation one round trip later', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const { doc } = await a.sp.create('notes', { text: 'x' })
    const key = doc.key.toString('hex')
    const b = await createDevice(t, { name: 'b' })
    await b.sp.addDocument({ name: 'notes', key: doc.key, encryptionKey: doc.encryptionKey, role: 'reader' })
    const { doc: copy } = await b.sp.open('notes')
    await converged([doc, copy], 'x')
    await eventually(() => a.net!.documentStatus(doc).state === 'synced', 'a to be synced')

    // Only what is emitted counts: documentStatus() would recompute on demand.
    let last: DocumentSyncStatus | null = null
    const events: Array<{ at: number; s: DocumentSyncStatus }> = []
    const waiters = new Set<() => void>()
    a.net!.on('status', (s: DocumentSyncStatus) => {
      if (s.key !== key) return
      last = s
      events.push({ at: performance.now(), s })
      for (const w of [...waiters]) w()
    })
    const until = (ok: (s: DocumentSyncStatus) => boolean, ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          resolve(false)
        }, ms)
        const check = () => {
          if (last === null || !ok(last)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(true)
        }
        waiters.add(check)
        check()
      })

    const confirm: number[] = []
    for (let i = 0; i < 8; i++) {
      await doc.edit([{ from: 0, insert: String(i) }]).durable
      const length = doc.autobase.local.length
      // The append was told as it happened: already emitted when durable resolves.
      expect(last!.localLength).toBe(length)
      const t0 = performance.now()
      expect(await until((s) => s.state === 'synced' && s.confirmedLength === length, 5000)).toBe(true)
      confirm.push(performance.now() - t0)
    }
    confirm.sort((x, y) => x - y)
    const median = confirm[Math.floor(confirm.length / 2)]!
    console.log(`[status] confirmation event after an append: median ${median.toFixed(1)} ms, max ${confirm[confirm.length - 1]!.toFixed(1)} ms`)
    // A 250 ms poll would put the median near 125 ms.
    expect(median).toBeLessThan(60)

    // Nothing changes: nothing is emitted (no poll re-announcing anything) ...
    const quietFrom = events.length
    await new Promise((r) => setTimeout(r, 600))
    expect(events.length).toBe(quietFrom)
    // ... and the positive control: a change within the same wait is emitted.
    const offline = until((s) => s.state === 'offline', 600)
    await b.offline()
    expect(await offline).toBe(true)
    expect(events.length).toBeGreaterThan(quietFrom)
  })
})
