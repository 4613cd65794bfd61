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
})
