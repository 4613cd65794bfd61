import { describe, expect, it } from 'vitest'
import b4a from 'b4a'
import { converged, createDevice, eventually, shareDocument, testnet, type Device } from '../helpers/net.js'
import { encodePresence, MAX_PRESENCE_BYTES, PRESENCE_TIMEOUT_MS, type PresencePeer } from '../../src/net/presence.js'
import type { SwarmDocument } from '../../src/sync/document.js'

const hex = (k: Uint8Array) => b4a.toString(k, 'hex')

/// Wait until every device's member record carries its device key.
async function devicesPublished(doc: SwarmDocument, devices: Device[]): Promise<void> {
  await eventually(async () => {
    await doc.update()
    const members = await doc.members()
    return devices.every((d) => members.some((m) => m.device !== null && b4a.equals(m.device, d.net!.publicKey)))
  }, 'every device key to be in the membership')
}

function peerOf(list: PresencePeer[], writer: Uint8Array): PresencePeer | undefined {
  return list.find((p) => p.writerKey === hex(writer))
}

describe('presence', () => {
  it('appears, moves with concurrent edits, disappears when the peer leaves', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const [da, db] = await shareDocument(a, [b], 'notes', 'hello world')
    await da!.setProfile({ name: 'Ada', color: '#e91e63', device: a.net!.publicKey })
    await devicesPublished(db!, [a, b])
    await converged([da!, db!], 'hello world')

    const onB = b.net!.presence(db!)
    a.net!.setCursor(da!, { anchor: 6, head: 11 })
    await eventually(() => {
      const p = peerOf(onB.peers(), da!.writerKey)
      return p !== undefined && p.online && p.anchor === 6 && p.head === 11 && p.name === 'Ada'
    }, "a's cursor to appear on b")
    const seen = peerOf(onB.peers(), da!.writerKey)!
    expect(seen.color).toBe('#e91e63')
    expect(seen.device).toBe(hex(a.net!.publicKey))

    // Concurrent edits before the cursor: it stays on "world" everywhere.
    db!.edit([{ from: 0, insert: 'Say: ' }])
    da!.edit([{ from: 0, insert: '> ' }])
    await converged([da!, db!])
    await eventually(() => {
      const p = peerOf(onB.peers(), da!.writerKey)!
      return p.anchor !== null && p.head !== null && db!.text.sliceString(p.anchor, p.head) === 'world'
    }, "a's selection to follow the text on b")

    // b's cursor shows on a too (both directions use the same channel).
    b.net!.setCursor(db!, { anchor: 0, head: 0 })
    await eventually(() => peerOf(a.net!.presence(da!).online(), db!.writerKey)?.anchor === 0, "b's cursor to appear on a")

    // Leaving: the connection closes and a is shown offline at once.
    await a.offline()
    await eventually(() => peerOf(onB.peers(), da!.writerKey)?.online === false, 'a to go offline on b', PRESENCE_TIMEOUT_MS + 2000)
    expect(onB.online()).toEqual([])
  })

  it('a peer that stops sending disappears after the timeout; a closed document says goodbye', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const [da, db] = await shareDocument(a, [b], 'notes', 'text')
    await devicesPublished(da!, [a, b])
    const onB = b.net!.presence(db!)
    await eventually(() => peerOf(onB.peers(), da!.writerKey)?.online === true, 'a to appear on b')
    // Heartbeats keep it alive across the timeout...
    await new Promise((r) => setTimeout(r, PRESENCE_TIMEOUT_MS + 500))
    expect(peerOf(onB.peers(), da!.writerKey)?.online).toBe(true)
    // ...and without them it expires (the sweep, fed a later clock).
    onB.expire(Date.now() + PRESENCE_TIMEOUT_MS + 1)
    expect(peerOf(onB.peers(), da!.writerKey)?.online).toBe(false)
    await eventually(() => peerOf(onB.peers(), da!.writerKey)?.online === true, 'the next heartbeat to bring a back')

    const updates: PresencePeer[][] = []
    onB.on('update', (list: PresencePeer[]) => updates.push(list))
    await a.sp.closeDocument('notes')
    await eventually(() => peerOf(onB.peers(), da!.writerKey)?.online === false, 'a to leave on b', 1000)
    expect(updates.length).toBeGreaterThan(0)
  })

  it('drops presences that claim another writer, are oversized or malformed; the connection keeps working', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const m = await createDevice(t, { name: 'mallory' })
    const [da, db, dm] = await shareDocument(a, [b, m], 'notes', 'shared text')
    await db!.setProfile({ name: 'Bob', color: '#2196f3', device: b.net!.publicKey })
    await devicesPublished(da!, [a, b, m])
    const onA = a.net!.presence(da!)
    await eventually(() => peerOf(onA.online(), db!.writerKey) !== undefined && peerOf(onA.online(), dm!.writerKey) !== undefined, 'b and m to appear on a')

    const toA = m.net!.presenceChannels().find((ch) => ch.remoteKey === hex(a.net!.publicKey))!
    expect(toA).toBeDefined()
    const before = { ...a.net!.presenceStats.dropped }
    const forged = encodePresence({
      discoveryKey: da!.discoveryKey,
      writerKey: db!.writerKey, // Bob's writer key, from Mallory's device
      name: 'Bob',
      color: '#2196f3',
      alive: true,
      cursor: { anchor: da!.relativePosition(0), head: da!.relativePosition(6) }
    })
    const leave = encodePresence({ discoveryKey: da!.discoveryKey, writerKey: db!.writerKey, name: 'Bob', color: '', alive: false, cursor: null })
    expect(toA.sendRaw(forged)).toBe(true)
    toA.sendRaw(leave) // a forged goodbye must not take Bob offline either
    toA.sendRaw(new Uint8Array(MAX_PRESENCE_BYTES + 1).fill(1))
    toA.sendRaw(forged.subarray(0, forged.byteLength - 3))
    toA.sendRaw(Uint8Array.from([1, 2, 3]))
    toA.sendRaw(new Uint8Array(0))
    const extra = new Uint8Array(forged.byteLength + 1)
    extra.set(forged)
    toA.sendRaw(extra)
    await eventually(() => {
      const d = a.net!.presenceStats.dropped
      return d.identity - before.identity >= 2 && d.oversized - before.oversized >= 1 && d.malformed - before.malformed >= 4
    }, 'the hostile messages to be dropped and counted')
    // Bob is still Bob, from Bob's device.
    const bob = peerOf(onA.peers(), db!.writerKey)!
    expect(bob.online).toBe(true)
    expect(bob.device).toBe(hex(b.net!.publicKey))
    expect(bob.anchor).toBeNull()

    // The connection is still up: Mallory's edits and real presence get through.
    expect(a.net!.peers).toContain(hex(m.net!.publicKey))
    dm!.edit([{ from: 0, insert: 'M: ' }])
    await converged([da!, dm!], 'M: shared text')
    m.net!.setCursor(dm!, { anchor: 3, head: 9 })
    await eventually(() => {
      const p = peerOf(onA.online(), dm!.writerKey)
      return p !== undefined && p.anchor === 3 && p.head === 9
    }, "Mallory's own presence to be accepted")
  })
})
