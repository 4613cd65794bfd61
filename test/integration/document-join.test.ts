// Late joiners: a fast-forwarded peer has a sparse view (it never downloads the
// older entries). It must still write snapshots (apply() reads the entries
// since the last snapshot), work offline, and close while the network is gone.
import { expect, test } from 'vitest'
import * as Y from 'yjs'
import { encodeBlock } from '../../src/doc/blocks.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { addWriter, connect, converge, createDoc, eventually, joinDoc, yText } from '../helpers/docs.js'

/// Append `n` one-character update blocks as `doc`'s writer, in Autobase
/// batches of `batch` (much faster than n awaited edits; the blocks are what
/// edit() writes; many batches make a long signed history, as real typing does).
async function appendTyping(doc: SwarmDocument, n: number, char: string, batch = 8): Promise<void> {
  const typist = new Y.Doc()
  typist.clientID = doc.clientId
  const blocks: Uint8Array[] = []
  typist.on('update', (u: Uint8Array) => blocks.push(encodeBlock({ kind: 'update', time: Date.now(), yjs: u })))
  const text = typist.getText(TEXT_ROOT)
  for (let i = 0; i < n; i++) text.insert(text.length, char)
  for (let i = 0; i < blocks.length; i += batch) await doc.autobase.append(blocks.slice(i, i + batch))
}

async function withBlocks(n: number) {
  const a = await createDoc()
  await appendTyping(a.doc, n, 'a')
  await a.doc.settled()
  expect(a.doc.updateCount).toBe(n)
  expect(a.doc.text.toString()).toBe('a'.repeat(n))
  return a
}

test('a late joiner that becomes a writer keeps writing offline through a snapshot boundary', async () => {
  const a = await withBlocks(SNAPSHOT_INTERVAL + 90)
  const b = await joinDoc(a.doc)
  const stop = connect(a.doc, b.doc)
  await converge([a.doc, b.doc], 20_000)
  await addWriter(a.doc, b.doc)
  await converge([a.doc, b.doc])
  let held = 0
  for (let i = 0; i < b.doc.updateCount; i++) if (await b.doc.autobase.view.updates.has(i)) held++
  expect(held).toBeLessThan(b.doc.updateCount) // it did not fetch the whole history

  // Offline, b types past the next snapshot: apply() must find every entry it merges locally.
  stop()
  const n = 2 * SNAPSHOT_INTERVAL + 5 - b.doc.updateCount
  await Promise.race([
    appendTyping(b.doc, n, 'b'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`appends hung (updates ${b.doc.updateCount})`)), 20_000))
  ])
  // The typed blocks bypassed b's Y.Doc: let the fold bring them in before
  // b edits through edit() (its next characters continue its clock).
  await b.doc.settled()
  const last = b.doc.edit([{ from: b.doc.text.length, insert: '!' }])
  await last.durable
  await b.doc.settled()
  expect(b.doc.autobase.view.snapshots.length).toBe(2)
  expect(yText(b.doc)).toBe(b.doc.text.toString())
  expect(await b.doc.rejections()).toEqual([])
  a.doc.edit([{ from: a.doc.text.length, insert: ' a-end' }])
  await a.doc.flush()
  connect(a.doc, b.doc)
  await converge([a.doc, b.doc], 30_000)
  expect(a.doc.text.toString()).toBe(b.doc.text.toString())
  expect(yText(a.doc)).toBe(a.doc.text.toString())
  expect(a.doc.text.toString().split('b').length - 1).toBe(n)
  expect(a.doc.text.toString()).toContain('!')
  expect(a.doc.text.toString()).toContain(' a-end')
  // Both wrote the same snapshot bytes.
  for (let i = 0; i < 2; i++) {
    const x = await a.doc.autobase.view.snapshots.get(i)
    const y = await b.doc.autobase.view.snapshots.get(i)
    expect(Buffer.compare(x!, y!)).toBe(0)
  }
})

test('close() returns while a join waits for entries the network no longer serves', async () => {
  const a = await withBlocks(SNAPSHOT_INTERVAL + 40)
  const b = await joinDoc(a.doc)
  const stop = connect(a.doc, b.doc)
  // Cut the link as soon as b has learnt of some of the log, before it got the text.
  await eventually(() => b.doc.autobase.view.updates.length > 0 || b.doc.text.length > 0, 'b to start joining', 30_000)
  stop()
  const start = Date.now()
  await Promise.race([b.doc.close(), new Promise((_, reject) => setTimeout(() => reject(new Error('close() hung')), 15_000))])
  expect(Date.now() - start).toBeLessThan(15_000)
})
