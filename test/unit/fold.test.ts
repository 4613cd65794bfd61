// The fold of the view into the Y.Doc, in-process (no disk, no network, no
// Autobase): the pure steps SwarmDocument's fold is made of (fold-parts.ts,
// own-updates.ts), the Y.Doc and its text (replica.ts, text-history.ts) and
// what a re-key's follower carries over (own-edits.ts), on real Yjs updates.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { Text } from '@codemirror/state'
import { encodeUpdateEntry, type UpdateEntry } from '../../src/doc/entries.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import type { Checkpoint } from '../../src/sync/checkpoint.js'
import type { DocumentChange } from '../../src/sync/document-types.js'
import { allStillThere, checkpointPlan, checkpointTail, collectParts, entryId, takeNew } from '../../src/sync/fold-parts.js'
import { holdsFrom, ownEditsDelta } from '../../src/sync/own-edits.js'
import { OwnUpdates } from '../../src/sync/own-updates.js'
import { applyParts, integrate, newYDoc, Replica } from '../../src/sync/replica.js'
import { TextHistory } from '../../src/sync/text-history.js'

/// A writer typing into its own Y.Doc; each edit returns its Yjs update.
class Typist {
  readonly doc = new Y.Doc()
  constructor(readonly client: number) {
    this.doc.clientID = client
  }
  private capture(f: () => void): Uint8Array {
    let out: Uint8Array | null = null
    const on = (u: Uint8Array) => void (out = u)
    this.doc.on('update', on)
    f()
    this.doc.off('update', on)
    if (out === null) throw new Error('no update')
    return out
  }
  insert(at: number, s: string): Uint8Array {
    return this.capture(() => this.doc.getText(TEXT_ROOT).insert(at, s))
  }
  delete(at: number, n: number): Uint8Array {
    return this.capture(() => this.doc.getText(TEXT_ROOT).delete(at, n))
  }
  receive(u: Uint8Array): void {
    Y.applyUpdate(this.doc, u)
  }
}

/// Byte arrays as plain arrays (a decoded entry holds a Buffer).
const bytes = (us: readonly Uint8Array[]): number[][] => us.map((u) => Array.from(u))
const entry = (member: number, seq: number, yjs: Uint8Array): UpdateEntry => ({ member, seq, time: 0, yjs })
const textOfParts = (parts: readonly Uint8Array[]): string => {
  const doc = newYDoc()
  applyParts(doc, parts)
  const text = doc.getText(TEXT_ROOT).toString()
  doc.destroy()
  return text
}

/// Two writers (members 0 and 1) with a few entries, and a snapshot of the first two.
function history() {
  const a = new Typist(1)
  const b = new Typist(2)
  const u0 = a.insert(0, 'hello')
  b.receive(u0)
  const u1 = b.insert(5, ' world')
  a.receive(u1)
  const snapshot = Y.mergeUpdates([u0, u1])
  const u2 = a.insert(0, '> ')
  b.receive(u2)
  const u3 = b.insert(13, '!')
  a.receive(u3)
  const entries = [entry(0, 0, u0), entry(1, 0, u1), entry(0, 1, u2), entry(1, 1, u3)]
  return { a, b, snapshot, entries, text: '> hello world!' }
}

describe('collectParts: what a rebuild applies', () => {
  test('the snapshot, then the entries after it; identities; where ours are', () => {
    const h = history()
    const r = collectParts(h.snapshot, 2, h.entries.slice(2), 0)
    expect(r.parts).toEqual([h.snapshot, h.entries[2]!.yjs, h.entries[3]!.yjs])
    expect(r.ids).toEqual(['0:1', '1:1'])
    expect([...r.seen]).toEqual([[1, 2]])
    expect(textOfParts(r.parts)).toBe(h.text)
  })

  test('without a snapshot: every entry; the same text as merging them all', () => {
    const h = history()
    const r = collectParts(null, 0, h.entries, 1)
    expect(r.ids).toEqual(['0:0', '1:0', '0:1', '1:1'])
    expect([...r.seen]).toEqual([[0, 1], [1, 3]])
    expect(textOfParts(r.parts)).toBe(h.text)
  })

  test('own pending updates applied again (a rebuild re-adds them) change nothing', () => {
    const h = history()
    const r = collectParts(h.snapshot, 2, h.entries.slice(2), 0)
    expect(textOfParts([...r.parts, h.entries[2]!.yjs, h.entries[0]!.yjs])).toBe(h.text)
  })

  test('an own update a reorder took out of the view stays in the rebuilt text', () => {
    const h = history()
    // The view lost entry 2 (ours) for a while: it is still pending here.
    const r = collectParts(null, 0, [h.entries[0]!, h.entries[1]!, h.entries[3]!], 0)
    expect(textOfParts([...r.parts, h.entries[2]!.yjs])).toBe(h.text)
  })
})

describe('takeNew: folding new entries', () => {
  test('skips ours still pending, records where ours are, appends identities', () => {
    const h = history()
    const own = new OwnUpdates()
    own.member = 0
    own.pending.set(1, h.entries[2]!.yjs) // ours, in the Y.Doc already
    const ids = ['0:0']
    const blocks = h.entries.slice(1).map((e) => encodeUpdateEntry(e))
    const updates = takeNew(blocks, 1, own, ids)
    expect(ids).toEqual(['0:0', '1:0', '0:1', '1:1'])
    expect([...own.index]).toEqual([[1, 2]])
    expect(bytes(updates)).toEqual(bytes([h.entries[1]!.yjs, h.entries[3]!.yjs]))
  })

  test('ours from an earlier session (not pending) is applied like any other', () => {
    const h = history()
    const own = new OwnUpdates()
    own.member = 0
    const updates = takeNew([encodeUpdateEntry(h.entries[0]!)], 0, own, [])
    expect(bytes(updates)).toEqual(bytes([h.entries[0]!.yjs]))
    expect([...own.index]).toEqual([[0, 0]])
  })

  test('a block this device does not have stops the fold before anything is recorded', () => {
    const h = history()
    const own = new OwnUpdates()
    own.member = 0
    const ids = ['0:0']
    expect(() => takeNew([encodeUpdateEntry(h.entries[0]!), null], 4, own, ids)).toThrow('update 5 is unavailable')
    // Nothing of the block before it: the next fold starts at the same index.
    expect(ids).toEqual(['0:0'])
    expect([...own.index]).toEqual([])
    // (The same block alone is recorded: the check is not vacuous.)
    takeNew([encodeUpdateEntry(h.entries[0]!)], 4, own, ids)
    expect(ids).toEqual(['0:0', '0:0'])
    expect([...own.index]).toEqual([[0, 4]])
  })

  test('folding entry by entry gives the text of a rebuild', () => {
    const h = history()
    const doc = newYDoc()
    const history_ = new TextHistory(() => {})
    const replica = new Replica(() => 99, () => {})
    replica.set(doc)
    const own = new OwnUpdates()
    const ids: string[] = []
    for (const [i, e] of h.entries.entries()) integrate(replica, history_, takeNew([encodeUpdateEntry(e)], i, own, ids))
    expect(history_.text.toString()).toBe(h.text)
    expect(replica.ytext.toString()).toBe(h.text)
    expect(history_.version).toBe(4)
    expect(ids).toEqual(h.entries.map(entryId))
    expect(doc.clientID).toBe(99)
  })
})

describe('allStillThere: did a truncation take a folded entry away?', () => {
  test('every folded identity from `from` on must be present', () => {
    const ids = ['0:3', '1:2', '0:4']
    expect(allStillThere(new Set(['1:2', '0:4', '2:0']), ids, 10, 11, 13)).toBe(true)
    expect(allStillThere(new Set(['0:4']), ids, 10, 11, 13)).toBe(false)
    expect(allStillThere(new Set(), ids, 10, 13, 13)).toBe(true)
  })
})

describe('OwnUpdates: the fate of this device\'s updates', () => {
  test('durable: by log position (the log length after the block), else a negative placeholder', () => {
    const own = new OwnUpdates()
    const u = new Uint8Array([1])
    own.durable(u, 5)
    own.durable(u, undefined)
    own.durable(u, null)
    expect([...own.pending.keys()]).toEqual([4, -1, -2])
  })

  test('settleSigned: ours below the signed length are final and leave', () => {
    const own = new OwnUpdates()
    const u = new Uint8Array([1])
    for (const seq of [3, 4, 5]) own.pending.set(seq, u)
    own.index.set(3, 10).set(4, 11).set(5, 12)
    expect(own.settleSigned(12)).toBe(false)
    expect([...own.pending.keys()]).toEqual([5])
    expect([...own.index]).toEqual([[5, 12]])
  })

  test('settleSigned: an earlier one of ours missing from the view once a later one is signed must leave the Y.Doc', () => {
    const own = new OwnUpdates()
    const u = new Uint8Array([1])
    for (const seq of [2, 3, 6, -1]) own.pending.set(seq, u)
    own.index.set(3, 7)
    expect(own.settleSigned(8)).toBe(true)
    // 2 was skipped (rejected, or Autobase resumed after it); 6 comes later;
    // -1 has no known position: both stay.
    expect([...own.pending.keys()].sort()).toEqual([-1, 6])
  })

  test('settleSigned: nothing signed, nothing settled', () => {
    const own = new OwnUpdates()
    own.pending.set(1, new Uint8Array([1]))
    own.index.set(1, 4)
    expect(own.settleSigned(4)).toBe(false)
    expect(own.pending.size).toBe(1)
  })
})

describe('checkpoints: what one names and when it can be used', () => {
  const cp = (over: Partial<Checkpoint>): Checkpoint => ({ length: 4, signed: 2, tail: ['0:1', '1:1'], state: new Uint8Array(), text: '', ...over })

  test('a view holding exactly what the checkpoint does: unchanged', () => {
    const h = history()
    const plan = checkpointPlan(cp({}), 4, h.entries.slice(2), 0)
    expect(plan).not.toBe('stale')
    if (plan === 'stale') return
    expect(plan.unchanged).toBe(true)
    expect(plan.ids).toEqual(['0:1', '1:1'])
    expect([...plan.seen]).toEqual([[1, 2]])
  })

  test('more entries, or the same ones reordered: folded on top', () => {
    const h = history()
    const more = checkpointPlan(cp({ length: 3, tail: ['0:1'] }), 4, h.entries.slice(2), 0)
    expect(more !== 'stale' && !more.unchanged).toBe(true)
    const reordered = checkpointPlan(cp({}), 4, [h.entries[3]!, h.entries[2]!], 0)
    expect(reordered !== 'stale' && !reordered.unchanged).toBe(true)
  })

  test('an update the view no longer has: stale', () => {
    const h = history()
    expect(checkpointPlan(cp({ tail: ['0:1', '2:0'] }), 4, h.entries.slice(2), 0)).toBe('stale')
  })

  test('the tail: from the signed length (at least the first identity kept)', () => {
    expect(checkpointTail(6, ['a', 'b', 'c', 'd'], 2, 4)).toEqual({ signed: 4, tail: ['c', 'd'] })
    expect(checkpointTail(6, ['a', 'b', 'c', 'd'], 2, 9)).toEqual({ signed: 6, tail: [] })
    // Identities kept from 2 on but only 1 entry signed: the entries below cannot be named.
    expect(checkpointTail(6, ['a', 'b', 'c', 'd'], 2, 1)).toBeNull()
  })
})

describe('Replica: a checkpoint loaded on first use', () => {
  test('the text is known at once; the state loads when the Y.Doc is first read', () => {
    const h = history()
    const state = Y.mergeUpdates(h.entries.map((e) => e.yjs))
    const seen: Array<[string, string]> = []
    const replica = new Replica(() => 1, (loaded, expected) => void seen.push([loaded, expected]))
    replica.set(newYDoc())
    replica.defer(newYDoc(), state, h.text)
    expect(replica.deferred).toBe(true)
    expect(seen).toEqual([])
    expect(replica.openClock).toBe(7) // client 1 typed 'hello' and '> '
    expect(replica.deferred).toBe(false)
    expect(seen).toEqual([[h.text, h.text]])
    expect(replica.doc.clientID).toBe(1)
    replica.destroy()
  })
})

describe('TextHistory: versions and rebasing', () => {
  test('an edit against an older version is rebased over the changes since', () => {
    const changes: DocumentChange[] = []
    const t = new TextHistory((c) => void changes.push(c))
    t.advance(t.rebase([{ from: 0, insert: 'hello' }], 0), 'local')
    t.advance(t.rebase([{ from: 0, insert: '> ' }], 1), 'remote')
    const late = t.rebase([{ from: 5, insert: '!' }], 1)
    t.advance(late, 'local', 'tab')
    expect(t.text.toString()).toBe('> hello!')
    expect(changes.map((c) => [c.version, c.origin, c.tag])).toEqual([[1, 'local', undefined], [2, 'remote', undefined], [3, 'local', 'tab']])
    expect(() => t.rebase([], 4)).toThrow(/Version 4 is not between 0 and 3/)
    expect(() => t.rebase([{ from: 99, insert: 'x' }], 3)).toThrow()
  })
})

describe('ownEditsDelta: what a follower carries over', () => {
  test('own edits from the clock on, and nobody else\'s', () => {
    const me = new Typist(7)
    const other = new Typist(8)
    const seeded = me.insert(0, 'abc') // clock 0..3: the seed has it
    other.receive(seeded)
    const theirs = other.insert(3, 'XYZ')
    me.receive(theirs)
    const late = me.insert(6, 'def') // clock 3..6: typed after the seed
    const lateDelete = me.delete(0, 1) // deletes 'a' after the last seeded update
    const result = ownEditsDelta({
      snapshot: null,
      entries: [entry(0, 0, seeded), entry(1, 0, theirs), entry(0, 1, late)],
      self: 0,
      unsent: [lateDelete],
      client: 7,
      clock: 3
    })
    expect(result.before).toBe('abcXYZ')
    expect(result.after).toBe('bcXYZdef')
    expect(result.after).toBe(me.doc.getText(TEXT_ROOT).toString())
    expect(result.changes.apply(Text.of(result.before.split('\n'))).toString()).toBe(result.after)
  })

  test('holdsFrom: a snapshot with own text from the clock on', () => {
    const me = new Typist(7)
    const u = me.insert(0, 'abcd')
    expect(holdsFrom(u, 7, 4)).toBe(false)
    expect(holdsFrom(u, 7, 3)).toBe(true)
    expect(holdsFrom(u, 8, 0)).toBe(false)
  })
})
