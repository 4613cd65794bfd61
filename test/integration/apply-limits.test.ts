// Limits apply() enforces against the document, not only against the block:
// a writer holding an invite must not break a document for the others (issue
// 13). Real documents (Hypercores on disk, Autobase), replicated in process;
// the malicious writer appends crafted blocks to its own log, as a modified
// build would. Every "refused" check has a positive control next to it.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import Autobase from 'autobase'
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { deflateRawSync } from 'node:zlib'
import { onTestFinished } from 'vitest'
import { encodeBlock, type Key } from '../../src/doc/blocks.js'
import { clientIdFor, decodeMembership } from '../../src/doc/membership.js'
import { decodeRejectionEntry, decodeUpdateEntry } from '../../src/doc/entries.js'
import { MAX_TEXT_LENGTH } from '../../src/limits.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { closeView, createApply, entryFormat, openView, type DocumentView } from '../../src/sync/view.js'
import type { ApplyLimits } from '../../src/sync/limits-check.js'
import { tmpDir } from '../helpers/tmp.js'
import { deleteUpdate, itemUpdate } from '../helpers/crafted-updates.js'
import { addWriter, connectAll, converge, createDoc, eventually, joinDoc, rejectionList, trio } from '../helpers/docs.js'

const UNKNOWN_DELETE = 'update deletes text of an unknown writer'
const MISSING_DELETE = 'update deletes text that is not in the document'
const TOO_LONG = 'update would make the text longer than the limit'
const OVER_QUOTA = 'writer is over its quota of update bytes'
const INFLATE = 'bad update: compressed payload does not inflate within the size cap'

const updateBlock = (yjs: Uint8Array, compressed = false) => encodeBlock({ kind: 'update', time: 1_700_000_000_000, yjs, ...(compressed ? { compressed: true } : {}) })
const deflated = (yjs: Uint8Array) => encodeBlock({ kind: 'update', time: 1_700_000_000_000, yjs: deflateRawSync(yjs), compressed: true })

/// `length` characters that deflate about 37 times: a random block repeated,
/// with every 128th character random again.
function compressibleText(length: number, seed = 1): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_()[]{}<>/|+=*&^%$#@~'
  let s = seed
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000
  const block = Array.from({ length: 16000 }, () => alphabet[Math.floor(rnd() * alphabet.length)]!)
  const out = new Array<string>(length)
  for (let i = 0; i < length; i++) out[i] = i % 128 === 0 ? alphabet[Math.floor(rnd() * alphabet.length)]! : block[i % 16000]!
  return out.join('')
}

// --- documents ---

const ydocOf = (d: SwarmDocument): Y.Doc => (d as unknown as { ydoc: Y.Doc }).ydoc
const clockOf = (d: SwarmDocument): number => Y.getState(ydocOf(d).store, d.clientId)
const reasonsOf = async (d: SwarmDocument): Promise<string[]> => (await rejectionList(d)).map((r) => r.replace(/^\w+#\d+: /, ''))


/// Every peer has folded the same updates and rejections, and shows the same
/// text length (for texts too long to compare at every poll).
async function settle(docs: SwarmDocument[], ms = 120_000): Promise<void> {
  await eventually(
    async () => {
      for (const d of docs) await d.update()
      const d0 = docs[0]!
      return docs.every(
        (d) => d.updateCount === d0.updateCount && d.autobase.view.rejections.length === d0.autobase.view.rejections.length && d.text.length === d0.text.length
      )
    },
    'documents to settle',
    ms
  )
}

/// A document driven without SwarmDocument: a real Autobase on its own
/// Corestore with swarmpad's apply() given `limits` (small numbers, so a
/// test reaches them), reopened on the same directory by `reopen()`.
interface RawDoc {
  base: Autobase<DocumentView>
  clientId: number
  reopen(): Promise<RawDoc>
  append(block: Uint8Array | Uint8Array[]): Promise<void>
  reasons(): Promise<string[]>
  texts(): Promise<string>
}

async function rawDoc(limits: Partial<ApplyLimits>, at: { dir: string; key: Key | null; encryptionKey: Uint8Array } | null = null): Promise<RawDoc> {
  const dir = at?.dir ?? (await tmpDir())
  const encryptionKey = at?.encryptionKey ?? randomBytes(32)
  const store = new Corestore(dir)
  let base: Autobase<DocumentView> | null = null
  const apply = createApply(() => base!.key, { limits })
  base = new Autobase<DocumentView>(store.namespace('doc'), at?.key ?? null, { open: openView, close: closeView, apply, encryptionKey, encrypted: true, ackInterval: 0 })
  base.on('error', () => {})
  const closing = async () => {
    await base!.close().catch(() => {})
    await store.close().catch(() => {})
  }
  onTestFinished(closing)
  await base.ready()
  const b = base
  return {
    base: b,
    clientId: clientIdFor(b.local.key),
    async reopen() {
      const key = b.key
      await closing()
      return rawDoc(limits, { dir, key, encryptionKey })
    },
    async append(block) {
      await b.append(block)
      await b.update()
    },
    async reasons() {
      const out: string[] = []
      for (let i = 0; i < b.view.rejections.length; i++) {
        const last = b.view.members.length > 0 ? decodeMembership((await b.view.members.get(b.view.members.length - 1))!) : null
        const r = decodeRejectionEntry((await b.view.rejections.get(i))!, entryFormat(b.view, last))
        out.push(`#${r.seq}: ${r.reason}`)
      }
      return out
    },
    async texts() {
      const doc = new Y.Doc()
      for (let i = 0; i < b.view.updates.length; i++) Y.applyUpdate(doc, decodeUpdateEntry((await b.view.updates.get(i))!).yjs)
      return doc.getText('text').toString()
    }
  }
}

describe('apply() limits that depend on the document', () => {
  test("a deletion of the owner's future clocks (or of an unknown writer's) is refused everywhere; the owner's later lines stay on every device, after the writer's removal and a restart too", async () => {
    const { a, b, c, all } = await trio()
    await a.doc.edit([{ from: 0, insert: 'line 1\n' }]).durable
    await converge(all)
    const aClock = clockOf(a.doc)
    expect(aClock).toBe(7)

    // Positive control: a crafted deletion of text that exists ('line' of
    // line 1, the owner's clocks 0-3) is an edit like any other.
    await b.doc.autobase.append(updateBlock(deleteUpdate([[a.doc.clientId, 0, 4]])))
    await converge(all)
    for (const d of all) expect(d.text.toString()).toBe(' 1\n')

    // 28 bytes that would delete everything the owner types from now on.
    const attack = deleteUpdate([[a.doc.clientId, aClock, 2 ** 40 - aClock]])
    expect(updateBlock(attack).length).toBeLessThan(40)
    await b.doc.autobase.append(updateBlock(attack))
    // The same for a client that is no member's.
    await b.doc.autobase.append(updateBlock(deleteUpdate([[0x5eed, 0, 10]])))
    await converge(all)

    await a.doc.edit([{ from: a.doc.text.length, insert: 'line 2\n' }]).durable
    await a.doc.edit([{ from: a.doc.text.length, insert: 'line 3\n' }]).durable
    await c.doc.edit([{ from: 0, insert: 'c: ' }]).durable
    await converge(all)
    for (const d of all) expect(d.text.toString()).toBe('c:  1\nline 2\nline 3\n')
    const reasons = await rejectionList(a.doc)
    for (const d of all) expect(await rejectionList(d)).toEqual(reasons)
    expect(reasons.map((r) => r.replace(/^\w+#\d+: /, ''))).toEqual([MISSING_DELETE, UNKNOWN_DELETE])

    // The writer goes; the owner's device restarts: its lines are still there.
    await a.doc.removeMember(b.doc.writerKey)
    await converge([a.doc, c.doc])
    const reopened = await a.reopen()
    await reopened.doc.update()
    expect(reopened.doc.text.toString()).toBe('c:  1\nline 2\nline 3\n')
    await reopened.doc.edit([{ from: reopened.doc.text.length, insert: 'line 4\n' }]).durable
    connectAll([reopened.doc, c.doc])
    await converge([reopened.doc, c.doc])
    expect(c.doc.text.toString()).toBe('c:  1\nline 2\nline 3\nline 4\n')
  }, 120_000)

  test('delete ranges on clocks that do not exist yet are refused, so no peer keeps a pending delete set; an honest deletion of 5,000 ranges is accepted', async () => {
    const { a, b, all } = await trio()
    const base = compressibleText(10_000)
    const start = clockOf(a.doc)
    await a.doc.edit([{ from: 0, insert: base }]).durable
    await converge(all)

    // Positive control: every other character of a's text, 5,000 ranges of clocks that exist.
    const honest: Array<[number, number, number]> = Array.from({ length: 5000 }, (_, i) => [a.doc.clientId, start + 2 * i, 1])
    await b.doc.autobase.append(updateBlock(deleteUpdate(honest)))
    await converge(all)
    const halved = Array.from(base, (ch, i) => (i % 2 === 1 ? ch : '')).join('')
    for (const d of all) expect(d.text.toString()).toBe(halved)

    // 60,000 ranges on a's future clocks (under the range cap: the clock rule
    // refuses it), then 900,000 (over the cap) in about 2.7 MB.
    const next = clockOf(a.doc)
    const future = (n: number): Array<[number, number, number]> => Array.from({ length: n }, (_, i) => [a.doc.clientId, next + 1 + 2 * (i % 8000), 1])
    await b.doc.autobase.append(updateBlock(deleteUpdate(future(60_000))))
    const big = updateBlock(deleteUpdate(future(900_000)))
    expect(big.length).toBeGreaterThan(2_000_000)
    await b.doc.autobase.append(big)
    await converge(all)
    // (A v2 document records the code: the guard's detail is not in the view.)
    expect(await reasonsOf(a.doc)).toEqual([MISSING_DELETE, 'bad update'])

    // Later updates fold without a pending delete set anywhere, and the text
    // a types at those clocks is not deleted.
    for (let i = 0; i < 10; i++) await a.doc.edit([{ from: 0, insert: `${i}` }]).durable
    await converge(all)
    for (const d of all) {
      expect(ydocOf(d).store.pendingDs, 'a pending delete set').toBeNull()
      expect(d.text.toString()).toBe(`9876543210${halved}`)
    }
  }, 120_000)

  test('a deflated payload that inflates more than 64 times its size is refused everywhere; one within the ratio, and an honest paste of one repeated character, are accepted', async () => {
    const { a, b, all } = await trio()
    // 1,000,000 times 'a' deflates about 1000x.
    await b.doc.autobase.append(deflated(itemUpdate(b.doc.clientId, 0, 'a'.repeat(1_000_000))))
    await converge(all)
    expect(await reasonsOf(a.doc)).toEqual([INFLATE])
    for (const d of all) expect(d.text.length).toBe(0)

    // Positive control: within the ratio.
    const text = compressibleText(400_000, 7)
    const block = deflated(itemUpdate(b.doc.clientId, 0, text))
    expect(400_000 / block.length).toBeGreaterThan(10)
    await b.doc.autobase.append(block)
    await converge(all)
    // An honest paste that deflates ~1000x travels uncompressed instead.
    await a.doc.edit([{ from: 0, insert: 'z'.repeat(300_000) }]).durable
    await converge(all)
    for (const d of all) expect(d.text.toString()).toBe('z'.repeat(300_000) + text)
    expect(await reasonsOf(b.doc)).toEqual([INFLATE])
  }, 120_000)

  test(`a writer cannot take the text past ${MAX_TEXT_LENGTH} characters: the block that would is refused on every peer, the owner types on and the document reopens`, async () => {
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    connectAll([a.doc, b.doc])
    await addWriter(a.doc, b.doc)
    await a.doc.edit([{ from: 0, insert: 'base. ' }]).durable
    await converge([a.doc, b.doc])

    // 17 blocks of 4,000,000 characters, about 110 KB each on the wire
    // (within the inflate ratio): 16 fit in 64 Mi, the 17th does not.
    const chunk = compressibleText(4_000_000, 3)
    let wire = 0
    for (let i = 0; i < 17; i++) {
      const block = deflated(itemUpdate(b.doc.clientId, i * 4_000_000, chunk))
      wire += block.length
      await b.doc.autobase.append(block)
    }
    expect(wire).toBeLessThan(17 * 4_000_000 / 30)
    await settle([a.doc, b.doc])
    expect(await reasonsOf(a.doc)).toEqual([TOO_LONG])
    expect(await reasonsOf(b.doc)).toEqual([TOO_LONG])
    expect(a.doc.text.length).toBe(6 + 16 * 4_000_000)

    // The owner types on; the document reopens with everything.
    await a.doc.edit([{ from: 0, insert: 'owner. ' }]).durable
    await settle([a.doc, b.doc])
    expect(b.doc.text.length).toBe(13 + 16 * 4_000_000)
    const reopened = await a.reopen()
    await reopened.doc.update()
    expect(reopened.doc.text.length).toBe(13 + 16 * 4_000_000)
    expect(reopened.doc.text.sliceString(0, 7)).toBe('owner. ')
  }, 240_000)

  test("a writer's refused blocks leave at most 16 rejection entries per 1024 blocks of its log; its valid blocks and the others' refusals still count", async () => {
    const { a, b, c, all } = await trio()
    for (let i = 0; i < 40; i++) await b.doc.autobase.append(b4a.from([1, 99, i]))
    await b.doc.autobase.append(updateBlock(itemUpdate(b.doc.clientId, 0, 'b is still heard. ')))
    for (let i = 0; i < 2; i++) await c.doc.autobase.append(b4a.from([1, 98, i]))
    await converge(all)
    const list = await rejectionList(a.doc)
    for (const d of all) expect(await rejectionList(d)).toEqual(list)
    const short = (k: Uint8Array) => b4a.toString(b4a.from(k), 'hex').slice(0, 12)
    const ofB = list.filter((r) => r.startsWith(short(b.doc.writerKey)))
    expect(ofB).toEqual(Array.from({ length: 16 }, (_, i) => `${short(b.doc.writerKey)}#${i}: malformed block`))
    expect(list.filter((r) => r.startsWith(short(c.doc.writerKey)))).toHaveLength(2)
    for (const d of all) expect(d.text.toString()).toBe('b is still heard. ')
  }, 120_000)

  test("a writer's large updates are refused past its byte quota (per run of its log, in one snapshot interval) and accepted again in the next run, also after a restart; small ones always pass", async () => {
    // Small numbers so a test reaches them: runs of 8 blocks, 40,000 bytes.
    const limits = { quotaWindowBlocks: 8, quotaWindowBytes: 40_000 }
    let doc = await rawDoc(limits)
    const text = (i: number) => compressibleText(10_000, 100 + i)
    let clock = 0
    const big = async (i: number) => {
      const before = doc.base.view.updates.length
      await doc.append(updateBlock(itemUpdate(doc.clientId, clock, text(i))))
      if (doc.base.view.updates.length > before) clock += 10_000
    }
    for (let i = 0; i < 5; i++) await big(i) // seqs 0-4: three fit in 40,000 bytes
    await doc.append(updateBlock(itemUpdate(doc.clientId, clock, 'small. '))) // seq 5
    clock += 7
    await big(6)
    await big(7)
    await big(8) // seq 8: the next run of the log
    expect(await doc.reasons()).toEqual([`#3: ${OVER_QUOTA}`, `#4: ${OVER_QUOTA}`, `#6: ${OVER_QUOTA}`, `#7: ${OVER_QUOTA}`])
    expect(doc.base.view.updates.length).toBe(5)

    // After a restart the quota is derived from the view: the same decisions.
    doc = await doc.reopen()
    await big(9)
    await big(10)
    await big(11)
    expect(await doc.reasons()).toEqual([`#3: ${OVER_QUOTA}`, `#4: ${OVER_QUOTA}`, `#6: ${OVER_QUOTA}`, `#7: ${OVER_QUOTA}`, `#11: ${OVER_QUOTA}`])
    expect(doc.base.view.updates.length).toBe(7)
    expect((await doc.texts()).includes('small. ')).toBe(true)
  }, 120_000)

  test('the text-length limit follows deletions, a snapshot and a restart (a small limit on a real Autobase)', async () => {
    let doc = await rawDoc({ maxTextLength: 1000 })
    let clock = 0
    const ones = (n: number) => Array.from({ length: n }, () => updateBlock(itemUpdate(doc.clientId, clock++, 'x')))
    // 300 one-character updates, 150 of them deleted, 300 more: the snapshot
    // at 512 updates holds the deletions.
    for (let i = 0; i < 5; i++) await doc.append(ones(60))
    await doc.append(updateBlock(deleteUpdate(Array.from({ length: 150 }, (_, i): [number, number, number] => [doc.clientId, 2 * i, 1]))))
    for (let i = 0; i < 5; i++) await doc.append(ones(60))
    expect(doc.base.view.snapshots.length).toBe(1)
    expect((await doc.texts()).length).toBe(450)

    doc = await doc.reopen()
    // 550 more: exactly the limit.
    await doc.append(updateBlock(itemUpdate(doc.clientId, clock, 'y'.repeat(550))))
    clock += 550
    expect((await doc.texts()).length).toBe(1000)
    // One more is refused; deleting one and inserting one is not.
    await doc.append(updateBlock(itemUpdate(doc.clientId, clock, 'z')))
    const both = Y.mergeUpdates([deleteUpdate([[doc.clientId, 1, 1]]), itemUpdate(doc.clientId, clock, 'w')])
    await doc.append(updateBlock(both))
    expect(await doc.reasons()).toEqual([`#602: ${TOO_LONG}`])
    const final = await doc.texts()
    expect(final.length).toBe(1000)
    expect(final.includes('w')).toBe(true)
  }, 120_000)
})
