// Deterministic regression tests for bugs the reliability suites found in
// src/ (see test/fuzz/cases/ for the seeds that found them). Each one fails
// on the code before its fix.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { addWriter, connect, converge, createDoc, joinDoc, rejectionList, yText } from '../helpers/docs.js'
import { genesis, type Membership } from '../../src/doc/membership.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { isSwarmpadError } from '../../src/errors.js'
import { within } from './harness.js'

/// This device's Yjs clock in its Y.Doc (a private field of SwarmDocument).
function docClock(doc: SwarmDocument): number {
  const inner = doc as unknown as { ydoc: Y.Doc }
  return Y.getState(inner.ydoc.store, doc.clientId)
}

describe('regressions found by the reliability suites', () => {
  // convergence-sim (seeds 1 and 30 at the time): a device learned it was
  // removed while an append was in flight; the append failed for good
  // (NOT_WRITABLE) but its text stayed in the Y.Doc and the text. That device
  // then showed text no peer had, and each of its later edits left a gap in
  // its Yjs clock, so every peer refused them (or, before the clock rule,
  // could never integrate them). Fixed in src/sync/document.ts: an update
  // the append queue gives up on makes the document rebuild without it.
  test('an edit whose append fails for good leaves the text and the Y.Doc; the next edit continues the clock', async () => {
    const a = await createDoc()
    a.doc.edit([{ from: 0, insert: 'kept ' }])
    await a.doc.flush()
    const clock = docClock(a.doc)
    const base = a.doc.autobase as unknown as { writable: boolean; append: (b: Uint8Array) => Promise<unknown> }
    const append = base.append
    // The edit is accepted, then (as when this device has just learned it
    // was removed) Autobase refuses its append.
    let refused: unknown = null
    const r = a.doc.edit([{ from: 5, insert: 'lost' }])
    Object.defineProperty(base, 'writable', { configurable: true, get: () => false })
    base.append = async () => {
      throw new Error('Not writable')
    }
    await r.durable.catch((err: unknown) => (refused = err))
    expect(isSwarmpadError(refused, 'NOT_WRITABLE')).toBe(true)
    await within(a.doc.settled(), 10_000, 'settled')
    expect(a.doc.text.toString()).toBe('kept ')
    expect(yText(a.doc)).toBe('kept ')
    expect(docClock(a.doc)).toBe(clock)

    // Writable again (added back): the next edit continues the clock and counts everywhere.
    delete (base as { writable?: boolean }).writable
    base.append = append
    await a.doc.edit([{ from: 5, insert: 'next' }]).durable
    const b = await joinDoc(a.doc)
    connect(a.doc, b.doc)
    await converge([a.doc, b.doc])
    expect(b.doc.text.toString()).toBe('kept next')
    expect(await rejectionList(b.doc)).toEqual([])
  })

  // convergence-sim (seeds 2, 12, 100 at the time): in the middle of a
  // reorder a membership read can miss this device for a moment; the document
  // took that for "removed", failed its queued edits (NOT_WRITABLE) and dropped
  // its own updates from the Y.Doc, so it wrote the same Yjs clocks again and
  // every later edit of it was refused on every peer. Fixed in
  // src/sync/document.ts: own edits are dropped only once a signed membership
  // record says this device was removed (and only signed rejections count).
  test('a membership read that misses this device (mid-reorder) does not fail its queued edits', async () => {
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    connect(a.doc, b.doc)
    await addWriter(a.doc, b.doc)
    await b.doc.edit([{ from: 0, insert: 'b0 ' }]).durable
    await converge([a.doc, b.doc])

    // Hold b's appends, queue two edits, then let b read a membership without itself.
    const base = b.doc.autobase as unknown as { append: (block: Uint8Array) => Promise<unknown> }
    const append = base.append.bind(base)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    base.append = async (block: Uint8Array) => {
      await gate
      return append(block)
    }
    const first = b.doc.edit([{ from: 0, insert: 'b1 ' }])
    await new Promise((r) => setImmediate(r))
    const second = b.doc.edit([{ from: 0, insert: 'b2 ' }])
    const outcomes: string[] = []
    first.durable.then(() => outcomes.push('first ok'), (e: unknown) => outcomes.push(`first failed: ${String(e)}`))
    second.durable.then(() => outcomes.push('second ok'), (e: unknown) => outcomes.push(`second failed: ${String(e)}`))
    await new Promise((r) => setImmediate(r))
    const inner = b.doc as unknown as { membership(): Promise<Membership> }
    const real = inner.membership.bind(b.doc)
    inner.membership = async () => genesis(a.doc.key)
    const fold = (b.doc as unknown as { fold: { schedule(): void; folding: Promise<void> } }).fold
    fold.schedule()
    await fold.folding
    inner.membership = real
    release()
    base.append = append
    await within(Promise.all([first.durable, second.durable]), 10_000, 'both edits durable').catch(() => {})
    expect(outcomes.sort()).toEqual(['first ok', 'second ok'])
    await converge([a.doc, b.doc])
    expect(a.doc.text.toString()).toBe('b2 b1 b0 ')
    expect(await rejectionList(a.doc)).toEqual([])
  })
})
