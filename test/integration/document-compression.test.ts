// Deflated update payloads: large edits travel deflated, every peer inflates
// them to the same text, and a payload that inflates past the cap (a
// "deflate bomb") is refused the same way on every peer.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import { deflateRawSync } from 'node:zlib'
import { decodeBlock, encodeBlock, updateBlock, updatePayload } from '../../src/doc/blocks.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { MAX_UPDATE_BYTES } from '../../src/limits.js'
import { addWriter, connect, converge, createDoc, joinDoc, rejectionList } from '../helpers/docs.js'

describe('deflated updates', () => {
  test('updateBlock deflates large payloads only, and updatePayload restores them exactly', () => {
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    doc.getText(TEXT_ROOT).insert(0, 'lorem ipsum dolor sit amet '.repeat(200))
    doc.getText(TEXT_ROOT).insert(0, 'x')
    const [big, small] = updates as [Uint8Array, Uint8Array]
    const b1 = updateBlock(big, 1)
    expect(b1.compressed).toBe(true)
    expect(b1.yjs.length).toBeLessThan(big.length / 2)
    expect(b4a.equals(updatePayload(b1), big)).toBe(true)
    const b2 = updateBlock(small, 1)
    expect(b2.compressed).toBeUndefined()
    expect(b4a.equals(updatePayload(b2), small)).toBe(true)
    const decoded = decodeBlock(encodeBlock(b1))
    expect(decoded.ok && decoded.block.kind === 'update' && decoded.block.compressed).toBe(true)
  })

  test('a payload that inflates past the cap throws instead of allocating', () => {
    const bomb = deflateRawSync(Buffer.alloc(MAX_UPDATE_BYTES + 1024))
    expect(bomb.length).toBeLessThan(10_000)
    expect(() => updatePayload({ yjs: bomb, compressed: true })).toThrow()
    expect(() => updatePayload({ yjs: b4a.from('not deflate at all'), compressed: true })).toThrow()
  })

  test('a 100 KB paste travels deflated; a deflate bomb is rejected on every peer with the same reason', async () => {
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    connect(a.doc, b.doc)
    await addWriter(a.doc, b.doc)
    const paste = Array.from({ length: 2000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join('')
    await a.doc.edit([{ from: 0, insert: paste }]).durable
    await converge([a.doc, b.doc])
    expect(b.doc.text.toString()).toBe(paste)
    const compressed = a.doc.autobase.local.byteLength
    expect(compressed).toBeLessThan(paste.length / 2)

    // b appends a block whose payload inflates past the cap.
    const bomb = deflateRawSync(Buffer.alloc(MAX_UPDATE_BYTES + 1024))
    await b.doc.autobase.append(encodeBlock({ kind: 'update', time: 1, yjs: bomb, compressed: true }))
    await converge([a.doc, b.doc])
    const ra = await rejectionList(a.doc)
    const rb = await rejectionList(b.doc)
    expect(ra).toEqual(rb)
    expect(ra.some((r) => r.includes('does not inflate within the size cap'))).toBe(true)
    expect(a.doc.text.toString()).toBe(paste)
  })
})
