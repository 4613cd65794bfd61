// The state apply() checks updates against (src/sync/limits-check.ts): the
// deleted-clock sets against a naive model, the snapshot summary against Yjs,
// and the document-dependent rules (deletions of text that exists, the text
// length, the per-writer quota and the cap on rejection entries) as pure
// functions of the blocks: the same views in any batch split, after truncate
// and re-apply, and from a fresh apply() that rebuilds from a snapshot.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import type { AutobaseNode } from 'autobase'
import { createApply, type DocumentView } from '../../src/sync/view.js'
import { BLOCK_VERSION } from '../../src/doc/blocks.js'
import { APPLY_LIMITS, ClockSet, REASONS, WriterClocks, type ApplyLimits } from '../../src/sync/limits-check.js'
import { encodeBlock } from '../../src/doc/blocks.js'
import { clientIdFor } from '../../src/doc/membership.js'
import { decodeRejectionEntry, decodeUpdateEntry } from '../../src/doc/entries.js'
import { summarizeState, TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import { Prng, seeded } from '../helpers/prng.js'
import { FakeHost, newView, VIEWS, type FakeView } from '../helpers/fake-autobase.js'

describe('ClockSet', () => {
  test('missing / insert / remove agree with a set of clocks, for few and many pieces at a time', (ctx) => {
    const rng = seeded(ctx)
    for (let round = 0; round < 40; round++) {
      const set = new ClockSet()
      const model = new Set<number>()
      const history: Array<Map<number, number[]>> = []
      const span = rng.pick([50, 400, 3000])
      for (let step = 0; step < 60; step++) {
        if (history.length > 0 && rng.bool(0.3)) {
          // Undo the newest insert (apply() rolls back newest first).
          for (const [client, pieces] of history.pop()!) {
            set.remove(client, pieces)
            for (let i = 0; i < pieces.length; i += 2) for (let c = pieces[i]!; c < pieces[i + 1]!; c++) model.delete(client * 1e6 + c)
          }
        } else {
          const added = new Map<number, number[]>()
          for (const client of [1, 2]) {
            const ranges: number[] = []
            for (let k = rng.int(1, rng.bool(0.3) ? 120 : 4); k > 0; k--) {
              const s = rng.int(0, span)
              ranges.push(s, s + rng.int(1, 12))
            }
            const sorted = normalize(ranges)
            const pieces = set.missing(client, sorted)
            const want: number[] = []
            for (let i = 0; i < sorted.length; i += 2) for (let c = sorted[i]!; c < sorted[i + 1]!; c++) if (!model.has(client * 1e6 + c)) want.push(c)
            expect(expand(pieces)).toEqual(want)
            set.insert(client, pieces)
            for (const c of want) model.add(client * 1e6 + c)
            added.set(client, pieces)
          }
          history.push(added)
        }
        expect(set.measure).toBe(model.size)
        for (const client of [1, 2]) {
          const all = set.missing(client, [0, span + 20])
          const inModel = Array.from({ length: span + 20 }, (_, c) => c).filter((c) => !model.has(client * 1e6 + c))
          expect(expand(all)).toEqual(inModel)
        }
      }
    }
  })
})

function normalize(ranges: number[]): number[] {
  const pairs: Array<[number, number]> = []
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!])
  pairs.sort((a, b) => a[0] - b[0])
  const out: number[] = []
  for (const [s, e] of pairs) {
    if (out.length > 0 && s <= out[out.length - 1]!) out[out.length - 1] = Math.max(out[out.length - 1]!, e)
    else out.push(s, e)
  }
  return out
}

function expand(pairs: number[]): number[] {
  const out: number[] = []
  for (let i = 0; i < pairs.length; i += 2) for (let c = pairs[i]!; c < pairs[i + 1]!; c++) out.push(c)
  return out
}

describe('summarizeState', () => {
  test('ends minus deleted clocks is the text length of merged updates, as a snapshot merges them', (ctx) => {
    const rng = seeded(ctx)
    for (let round = 0; round < 30; round++) {
      const docs = [1, 2, 3].map((id) => {
        const d = new Y.Doc()
        d.clientID = id * 1000 + round
        return d
      })
      const updates: Uint8Array[] = []
      for (const d of docs) d.on('update', (u: Uint8Array) => updates.push(u))
      for (let step = 0; step < 80; step++) {
        const d = rng.pick(docs)
        const t = d.getText(TEXT_ROOT)
        d.transact(() => {
          if (t.length > 0 && rng.bool(0.4)) {
            const at = rng.int(0, t.length - 1)
            t.delete(at, rng.int(1, Math.min(20, t.length - at)))
          } else t.insert(rng.int(0, t.length), rng.string(rng.int(1, 30), [...'abcé😀 ']))
        })
        if (rng.bool(0.3)) for (const o of docs) if (o !== d) Y.applyUpdate(o, Y.encodeStateAsUpdate(d))
      }
      const merged = Y.mergeUpdates(updates)
      const doc = new Y.Doc()
      Y.applyUpdate(doc, merged)
      const summary = summarizeState(merged)
      expect(summary).not.toBeNull()
      let length = 0
      for (const { end, deleted } of summary!.clients.values()) {
        length += end
        for (let i = 0; i < deleted.length; i += 2) length -= deleted[i + 1]! - deleted[i]!
      }
      expect(length).toBe(doc.getText(TEXT_ROOT).length)
    }
  })

  test('refuses what merged swarmpad updates never hold (a map entry), the same way every time', () => {
    const d = new Y.Doc()
    d.getMap('m').set('k', 1)
    expect(summarizeState(Y.encodeStateAsUpdate(d))).toBeNull()
    expect(summarizeState(new Uint8Array([5, 1, 2]))).toBeNull()
  })
})

// --- the rules under batch splits, reorders and restarts ---

interface Writer {
  key: Buffer
  clientId: number
  seq: number
}

const newKey = (rng: Prng): Buffer => Buffer.from(rng.bytes(32))
const nodeOf = (w: Writer, value: Uint8Array | null): AutobaseNode => ({ from: { key: w.key }, length: ++w.seq, value: value === null ? null : Buffer.from(value), heads: [] })
const updateOf = (yjs: Uint8Array) => encodeBlock({ kind: 'update', time: 1_700_000_000_000, yjs })

function deleteOnly(ranges: Array<[number, number, number]>): Uint8Array {
  const v = (n: number): number[] => {
    const out: number[] = []
    for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n % 128) | 0x80)
    return [...out, n]
  }
  const out = [0, ranges.length]
  for (const [client, clock, len] of ranges) out.push(...v(client), 1, ...v(clock), ...v(len))
  return b4a.from(out)
}

const SMALL: Partial<ApplyLimits> = {
  maxTextLength: 400,
  quotaWindowBlocks: 32,
  quotaWindowBytes: 500,
  quotaSmallUpdate: 40,
  rejectionsPerWindow: 3,
  rejectionsTail: 24
}

/// A history of `count` nodes by an owner and two writers, built against a
/// reference apply() so most honest updates are accepted (each writer edits
/// the text of the view), mixed with updates that break the rules.
async function history(rng: Prng, count: number, limits: Partial<ApplyLimits>): Promise<{ creator: Buffer; nodes: AutobaseNode[] }> {
  const writers: Writer[] = [0, 1, 2].map(() => ({ key: newKey(rng), clientId: 0, seq: 0 }))
  for (const w of writers) w.clientId = clientIdFor(w.key)
  const owner = writers[0]!
  const apply = createApply(() => owner.key, { limits })
  const view = newView()
  const host = new FakeHost(owner.key)
  const truth = new Y.Doc()
  const nodes: AutobaseNode[] = []
  const push = async (n: AutobaseNode) => {
    nodes.push(n)
    const before = view.updates.length
    await apply([n], view as unknown as DocumentView, host)
    if (view.updates.length > before) Y.applyUpdate(truth, decodeUpdateEntry(view.updates.blocks[before]!).yjs)
  }
  for (const w of writers.slice(1)) await push(nodeOf(owner, encodeBlock({ kind: 'add-writer', key: w.key, role: 'writer' })))
  while (nodes.length < count) {
    const w = rng.pick(writers)
    const kind = rng.weighted({ edit: 60, big: 8, futureDelete: 4, unknownDelete: 2, malformed: 6 })
    if (kind === 'malformed') {
      await push(nodeOf(w, b4a.from([1, 99, rng.int(0, 255)])))
      continue
    }
    const next = (c: number) => Y.getState(truth.store, c)
    if (kind === 'futureDelete') {
      const other = rng.pick(writers)
      await push(nodeOf(w, updateOf(deleteOnly([[other.clientId, next(other.clientId) + rng.int(0, 3), rng.int(1, 2 ** 20)]]))))
      continue
    }
    if (kind === 'unknownDelete') {
      await push(nodeOf(w, updateOf(deleteOnly([[rng.int(1, 2 ** 31), 0, 1]]))))
      continue
    }
    const d = new Y.Doc()
    Y.applyUpdate(d, Y.encodeStateAsUpdate(truth))
    d.clientID = w.clientId
    const t = d.getText(TEXT_ROOT)
    const out: Uint8Array[] = []
    d.on('update', (u: Uint8Array) => out.push(u))
    d.transact(() => {
      if (kind === 'big') t.insert(rng.int(0, t.length), rng.string(rng.int(60, 250), [...'xyz']))
      else if (t.length > 0 && rng.bool(0.45)) {
        const at = rng.int(0, t.length - 1)
        t.delete(at, rng.int(1, Math.min(40, t.length - at)))
      } else t.insert(rng.int(0, t.length), rng.string(rng.int(1, 25), [...'abc ']))
    })
    if (out.length > 0) await push(nodeOf(w, updateOf(out[0]!)))
  }
  return { creator: owner.key, nodes }
}

async function run(creator: Buffer, nodes: AutobaseNode[], limits: Partial<ApplyLimits>, cut: () => number, rewind: () => number | null = () => null): Promise<FakeView> {
  const apply = createApply(() => creator, { limits })
  const view = newView()
  const host = new FakeHost(creator)
  const marks: Array<{ at: number; lengths: number[]; host: ReturnType<FakeHost['save']> }> = [{ at: 0, lengths: VIEWS.map(() => 0), host: host.save() }]
  let i = 0
  let rewinds = 0
  while (i < nodes.length) {
    const size = Math.max(1, Math.min(nodes.length - i, cut()))
    await apply(nodes.slice(i, i + size), view as unknown as DocumentView, host)
    i += size
    marks.push({ at: i, lengths: VIEWS.map((n) => view[n].length), host: host.save() })
    const depth = rewinds < 12 && marks.length > 2 ? rewind() : null
    if (depth !== null) {
      const back = marks[Math.max(0, marks.length - 2 - depth)]!
      for (const [k, n] of VIEWS.entries()) await view[n].truncate(back.lengths[k]!)
      host.restore(back.host)
      marks.length = marks.indexOf(back) + 1
      i = back.at
      rewinds++
    }
  }
  return view
}

function sameViews(a: FakeView, b: FakeView, what: string): void {
  for (const name of VIEWS) {
    expect(b[name].length, `${what}: ${name} length`).toBe(a[name].length)
    for (let i = 0; i < a[name].length; i++) if (!b4a.equals(a[name].blocks[i]!, b[name].blocks[i]!)) throw new Error(`${what}: ${name}[${i}] differs`)
  }
}

function foldedText(view: FakeView): string {
  const doc = new Y.Doc()
  for (const b of view.updates.blocks) Y.applyUpdate(doc, decodeUpdateEntry(b).yjs)
  return doc.getText(TEXT_ROOT).toString()
}

describe('document-dependent rules in apply()', () => {
  test('the same views in any batch split, after truncate + re-apply, and from a fresh apply(); the tracked length is the text length', async (ctx) => {
    const rng = seeded(ctx)
    const { creator, nodes } = await history(rng, SNAPSHOT_INTERVAL * 2 + 200, SMALL)
    const one = await run(creator, nodes, SMALL, () => 1)
    expect(one.snapshots.length).toBeGreaterThanOrEqual(1)
    const reasons = one.rejections.blocks.map((b) => decodeRejectionEntry(b, BLOCK_VERSION).reason)
    for (const r of [REASONS.missingDelete.words, REASONS.unknownDelete.words, REASONS.tooLong.words, REASONS.overQuota.words, 'malformed block']) {
      expect(reasons, `some "${r}"`).toContain(r)
    }
    // Some refusals left no entry (the cap of 3 per run of 32 blocks of a writer's log).
    const refused = nodes.filter((n) => n.value !== null).length - one.updates.length - one.members.length
    expect(one.rejections.length).toBeLessThan(refused)
    const text = foldedText(one)
    expect(text.length).toBeLessThanOrEqual(SMALL.maxTextLength!)
    expect(text.length).toBeGreaterThan(0)

    sameViews(one, await run(creator, nodes, SMALL, () => rng.int(1, 40)), 'random batches')
    sameViews(one, await run(creator, nodes, SMALL, () => rng.int(1, 9), () => (rng.bool(0.2) ? rng.int(0, 3) : null)), 'truncate + re-apply')
    // A fresh apply() (a restart, a fast-forward) picks up a view half way,
    // past a snapshot. (The host only matters for adding and removing writers,
    // which this history does at its start.)
    const cut = nodes.length - 150
    const again = await run(creator, nodes.slice(0, cut), SMALL, () => 50)
    const replay = createApply(() => creator, { limits: SMALL })
    const host = new FakeHost(creator)
    for (let i = cut; i < nodes.length; i += 7) await replay(nodes.slice(i, i + 7), again as unknown as DocumentView, host)
    sameViews(one, again, 'continued by a fresh apply()')

    // The state a fresh WriterClocks derives: the text length of the view.
    const clocks = new WriterClocks()
    await clocks.sync(one as unknown as DocumentView, { ...APPLY_LIMITS, ...SMALL })
    expect(clocks.textLength).toBe(text.length)
  }, 60_000)
})
