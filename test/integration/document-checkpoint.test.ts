// Checkpoints: reopening loads this device's sealed Y.Doc state instead of a
// snapshot plus updates, and any checkpoint that does not match the log is
// ignored (the text is rebuilt from the log).
import { describe, expect, test } from 'vitest'
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import b4a from 'b4a'
import { onTestFinished } from 'vitest'
import { SwarmDocument } from '../../src/sync/document.js'
import { openCheckpoint, type CheckpointStore } from '../../src/sync/checkpoint.js'
import { tmpDir } from '../helpers/tmp.js'
import { addWriter, connect, converge, createDoc } from '../helpers/docs.js'

function memoryStore(): CheckpointStore & { bytes: Uint8Array | null } {
  const store = {
    bytes: null as Uint8Array | null,
    async load() {
      return store.bytes
    },
    async save(b: Uint8Array) {
      store.bytes = b4a.from(b)
    }
  }
  return store
}

async function open(dir: string, key: Uint8Array | null, encryptionKey: Uint8Array, checkpoint: CheckpointStore) {
  const store = new Corestore(dir)
  const doc = new SwarmDocument(store.namespace('doc'), { key, encryptionKey, checkpoint, ackInterval: 0 })
  onTestFinished(async () => {
    await doc.close().catch(() => {})
    await store.close().catch(() => {})
  })
  await doc.ready()
  return {
    doc,
    async close() {
      await doc.close()
      await store.close()
    }
  }
}

describe('checkpoints', () => {
  test('close writes a sealed checkpoint; reopening loads it and keeps editing', async () => {
    const dir = await tmpDir()
    const ek = randomBytes(32)
    const cps = memoryStore()
    const first = await open(dir, null, ek, cps)
    const key = first.doc.key
    for (let i = 0; i < 50; i++) first.doc.edit([{ from: first.doc.text.length, insert: `line ${i}\n` }])
    await first.doc.flush()
    const text = first.doc.text.toString()
    const clock = first.doc.localClock
    await first.close()
    expect(cps.bytes).not.toBeNull()
    expect(b4a.toString(cps.bytes!).includes('line 1')).toBe(false) // sealed, not plaintext
    expect(openCheckpoint(cps.bytes!, ek, key)?.length).toBeGreaterThan(0)
    expect(openCheckpoint(cps.bytes!, randomBytes(32), key)).toBeNull()

    const second = await open(dir, key, ek, cps)
    expect(second.doc.loadedFrom).toBe('checkpoint')
    expect(second.doc.text.toString()).toBe(text)
    // The Yjs state loads after open; it agrees with the text shown at once.
    expect(second.doc.openClock).toBe(clock)
    expect(second.doc.localClock).toBe(clock)
    await second.doc.edit([{ from: 0, insert: 'more ' }]).durable
    const after = second.doc.text.toString()
    await second.close()
    const third = await open(dir, key, ek, cps)
    expect(third.doc.text.toString()).toBe(after)
  })

  test('a damaged, foreign or missing checkpoint is ignored and the text comes from the log', async () => {
    const dir = await tmpDir()
    const ek = randomBytes(32)
    const cps = memoryStore()
    const first = await open(dir, null, ek, cps)
    const key = first.doc.key
    await first.doc.edit([{ from: 0, insert: 'hello checkpoint' }]).durable
    await first.close()
    const good = cps.bytes!

    const flipped = b4a.from(good)
    flipped[flipped.length >> 1]! ^= 1
    for (const bytes of [flipped, good.subarray(0, 10), randomBytes(200), null]) {
      cps.bytes = bytes
      const d = await open(dir, key, ek, cps)
      expect(d.doc.loadedFrom).toBe('log')
      expect(d.doc.text.toString()).toBe('hello checkpoint')
      await d.close()
    }

    // A checkpoint of another document (same encryption key) does not open either.
    const otherDir = await tmpDir()
    const other = memoryStore()
    const o = await open(otherDir, null, ek, other)
    await o.doc.edit([{ from: 0, insert: 'something else' }]).durable
    await o.close()
    cps.bytes = other.bytes
    const d = await open(dir, key, ek, cps)
    expect(d.doc.loadedFrom).toBe('log')
    expect(d.doc.text.toString()).toBe('hello checkpoint')
  })

  test('a checkpoint holding updates that later leave the log: the text drops them', async () => {
    // A writer's edits are in b's checkpoint; the owner removed the writer
    // concurrently, so when b reopens connected to a the edits left the view.
    const a = await createDoc()
    const bDir = await tmpDir()
    const cps = memoryStore()
    const b = await open(bDir, a.doc.key, a.doc.encryptionKey, cps)
    const stop = connect(a.doc, b.doc)
    await addWriter(a.doc, b.doc)
    await a.doc.edit([{ from: 0, insert: 'base ' }]).durable
    await converge([a.doc, b.doc])
    stop()
    await b.doc.edit([{ from: b.doc.text.length, insert: 'from b' }]).durable
    await a.doc.removeMember(b.doc.writerKey)
    await b.close()
    const cp = openCheckpoint(cps.bytes!, a.doc.encryptionKey, a.doc.key)
    expect(cp).not.toBeNull()

    const b2 = await open(bDir, a.doc.key, a.doc.encryptionKey, cps)
    connect(a.doc, b2.doc)
    await converge([a.doc, b2.doc])
    expect(b2.doc.text.toString()).toBe('base ')
    expect(a.doc.text.toString()).toBe('base ')
  })
})
