// apply() is a pure function of the linearized blocks: the same nodes, cut into
// different batches, or applied, truncated and re-applied (Autobase's reorder
// semantics), must leave identical views on every peer. Driven here with an
// in-memory view (four append-only logs) and a fake Autobase host; everything
// else (codec, guard, membership rules, Yjs) is real.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import type { AutobaseNode } from 'autobase'
import { createApply, UPGRADE_REASON, type DocumentView } from '../../src/sync/view.js'
import { BLOCK_VERSION, decodeBlock, encodeBlock, type Block, type FormatVersion, type Role } from '../../src/doc/blocks.js'
import { clientIdFor, decide, decodeMembership, findMember, genesis, type Membership } from '../../src/doc/membership.js'
import { decodeRejectionEntry, decodeSnapshotEntry, decodeUpdateEntry } from '../../src/doc/entries.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import { iterations, Prng, seeded } from '../helpers/prng.js'
import { FakeHost, hex, newView, type FakeView } from '../helpers/fake-autobase.js'

interface Run {
  view: FakeView
  host: FakeHost
  truncations: number
  batches: number
}

/// Apply `nodes` in batches cut by `cut`, truncating and re-applying from an
/// earlier batch boundary when `rewind` says so.
async function run(
  creator: Uint8Array,
  nodes: AutobaseNode[],
  cut: (remaining: number) => number,
  rewind: (boundaries: number) => number | null = () => null
): Promise<Run> {
  const apply = createApply(() => creator)
  const view = newView()
  const host = new FakeHost(creator)
  const boundaries: Array<{ at: number; lengths: number[]; host: ReturnType<FakeHost['save']> }> = []
  const names = ['updates', 'snapshots', 'members', 'rejections'] as const
  const mark = (at: number) => boundaries.push({ at, lengths: names.map((n) => view[n].length), host: host.save() })
  let i = 0
  let truncations = 0
  let batches = 0
  mark(0)
  while (i < nodes.length) {
    const size = Math.max(1, Math.min(nodes.length - i, cut(nodes.length - i)))
    await apply(nodes.slice(i, i + size), view as unknown as DocumentView, host)
    batches++
    // Autobase stops applying once apply() interrupted it.
    if (host.interrupts.length > 0) break
    i += size
    mark(i)
    const back = truncations < 8 ? rewind(boundaries.length) : null
    if (back !== null) {
      // A reorder: Autobase truncates the views to where the new order
      // diverges and applies again from there (our nodes are unchanged, so
      // this must give back exactly the same views).
      const b = boundaries[back]!
      for (const [k, n] of names.entries()) await view[n].truncate(b.lengths[k]!)
      host.restore(b.host)
      boundaries.length = back + 1
      i = b.at
      truncations++
    }
  }
  return { view, host, truncations, batches }
}

function sameRun(a: Run, b: Run, what: string): void {
  for (const name of ['updates', 'snapshots', 'members', 'rejections'] as const) {
    expect(b.view[name].length, `${what}: ${name} length`).toBe(a.view[name].length)
    for (let i = 0; i < a.view[name].length; i++) {
      if (!b4a.equals(a.view[name].blocks[i]!, b.view[name].blocks[i]!)) throw new Error(`${what}: ${name}[${i}] differs`)
    }
  }
  expect([...b.host.writers].sort(), `${what}: writers`).toEqual([...a.host.writers].sort())
  expect([...b.host.indexers].sort(), `${what}: indexers`).toEqual([...a.host.indexers].sort())
  expect(b.host.interrupts, `${what}: interrupts`).toEqual(a.host.interrupts)
}

/// The text of the updates view: folded entry by entry (as a live document
/// does) when `sequential`, merged at once otherwise, and rebuilt from the
/// newest snapshot plus the tail (as reopening does).
function fold(view: FakeView, sequential: boolean): { text: string; fromSnapshot: string; stateVector: Uint8Array } {
  const entries = view.updates.blocks.map((b) => decodeUpdateEntry(b).yjs)
  const doc = new Y.Doc()
  const text = doc.getText(TEXT_ROOT)
  if (sequential) for (const u of entries) Y.applyUpdate(doc, u)
  else Y.applyUpdate(doc, Y.mergeUpdates(entries))
  const again = new Y.Doc()
  const parts: Uint8Array[] = []
  let from = 0
  if (view.snapshots.length > 0) {
    const snap = decodeSnapshotEntry(view.snapshots.blocks[view.snapshots.length - 1]!)
    parts.push(snap.state)
    from = snap.updates
  }
  parts.push(...entries.slice(from))
  Y.applyUpdate(again, Y.mergeUpdates(parts))
  return { text: text.toString(), fromSnapshot: again.getText(TEXT_ROOT).toString(), stateVector: Y.encodeStateVector(doc) }
}

function membershipOf(view: FakeView, creator: Uint8Array): Membership | null {
  void creator
  const last = view.members.blocks[view.members.length - 1]
  return last ? decodeMembership(last) : null
}

// --- a random history of several writers ---

interface Writer {
  key: Buffer
  seq: number
  doc: Y.Doc
  updates: Uint8Array[]
}

function newWriter(rng: Prng): Writer {
  const key = Buffer.from(rng.bytes(32))
  const doc = new Y.Doc()
  doc.clientID = clientIdFor(key)
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  doc.getText(TEXT_ROOT)
  return { key, seq: 0, doc, updates }
}

function node(w: Writer, value: Uint8Array | null): AutobaseNode {
  w.seq++
  return { from: { key: w.key }, length: w.seq, value: value === null ? null : Buffer.from(value), heads: [] }
}

/// A random edit of `w`'s document; with `scratch`, of a copy of it (a device
/// that may not write keeps no text it could not save).
function randomEdit(rng: Prng, w: Writer, scratch = false): Uint8Array | null {
  if (scratch) {
    const copy = newWriter(rng)
    copy.doc.clientID = w.doc.clientID
    Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(w.doc))
    copy.doc.clientID = w.doc.clientID
    copy.updates.length = 0
    return randomEdit(rng, copy)
  }
  const text = w.doc.getText(TEXT_ROOT)
  const before = w.updates.length
  w.doc.transact(() => {
    for (let k = rng.int(1, 3); k > 0; k--) {
      if (text.length > 0 && rng.bool(0.3)) {
        const at = rng.int(0, text.length - 1)
        text.delete(at, rng.int(1, Math.min(6, text.length - at)))
      } else text.insert(rng.int(0, text.length), rng.string(rng.int(1, 12)))
    }
  })
  return w.updates.length > before ? w.updates[w.updates.length - 1]! : null
}

const update = (yjs: Uint8Array, time = 1_700_000_000_000): Uint8Array => encodeBlock({ kind: 'update', time, yjs })

interface History {
  creator: Uint8Array
  nodes: AutobaseNode[]
  kinds: Record<string, number>
}

/// A linearized history: nodes of several writers, in one order every peer agrees on.
function randomHistory(rng: Prng, length: number, format: FormatVersion = BLOCK_VERSION): History {
  const enc = (block: Block) => encodeBlock(block, format)
  const update = (yjs: Uint8Array, time = 1_700_000_000_000): Uint8Array => enc({ kind: 'update', time, yjs })
  const writers = Array.from({ length: 5 }, () => newWriter(rng))
  const creator = writers[0]!.key
  const outsider = newWriter(rng) // never added
  const nodes: AutobaseNode[] = []
  const kinds: Record<string, number> = {}
  const count = (k: string) => (kinds[k] = (kinds[k] ?? 0) + 1)
  // The generator follows membership as apply() will (roughly: it cannot
  // know Autobase's own removal rule), so that a device that is not a member
  // edits only a throwaway copy, as a real one would not be able to save.
  let membership = genesis(creator)
  const push = (w: Writer, value: Uint8Array | null) => {
    nodes.push(node(w, value))
    if (value === null || value[0] !== format) return
    try {
      const d = decide(membership, w.key, decodeBlockOrThrow(value), { removable: () => true, hasText: () => false })
      if (d.action === 'add-writer' || d.action === 'remove-writer' || d.action === 'membership') membership = d.next
    } catch {}
  }
  const isMember = (w: Writer) => {
    const m = findMember(membership, w.key)
    return m !== undefined && !m.removed
  }
  // Start with two collaborators so most updates are accepted.
  push(writers[0]!, enc({ kind: 'add-writer', key: writers[1]!.key, role: 'writer' }))
  push(writers[0]!, enc({ kind: 'add-writer', key: writers[2]!.key, role: 'owner' }))
  while (nodes.length < length) {
    const w = rng.bool(0.05) ? outsider : rng.bool(0.4) ? writers[0]! : rng.pick(writers)
    const kind = rng.weighted({ update: 60, sync: 8, forged: 3, malformed: 3, badYjs: 2, add: 8, remove: 2, profile: 3, meta: 2, ack: 3, empty: 1 })
    count(kind)
    switch (kind) {
      case 'sync': {
        // This writer catches up with another one (so origins cross writers), then edits.
        const other = rng.pick(writers)
        if (other !== w) Y.applyUpdate(w.doc, Y.encodeStateAsUpdate(other.doc))
        const u = randomEdit(rng, w, !isMember(w))
        if (u) push(w, update(u))
        break
      }
      case 'update': {
        const u = randomEdit(rng, w, !isMember(w))
        if (u) push(w, update(u, rng.int(0, 2 ** 42)))
        break
      }
      case 'forged': {
        // Text signed by w but authored under another writer's clientID.
        const victim = rng.pick(writers.filter((x) => x !== w))
        const forger = new Y.Doc()
        forger.clientID = clientIdFor(victim.key)
        forger.getText(TEXT_ROOT).insert(0, 'forged!')
        push(w, update(Y.encodeStateAsUpdate(forger)))
        break
      }
      case 'malformed': {
        const valid = update(Y.encodeStateAsUpdate(w.doc).subarray(0, 1).length ? b4a.from([1, 2, 3]) : b4a.from([1]))
        const bad = rng.pick([rng.bytes(rng.int(1, 40)), valid.subarray(0, valid.length - 1), b4a.concat([valid, b4a.from([0])]), b4a.from([1, 9, 9])])
        if (bad[0] !== undefined && bad[0] > 1) bad[0] = 0 // never a "newer version" here
        push(w, bad)
        break
      }
      case 'badYjs':
        push(w, update(rng.pick([b4a.from('garbagedoc', 'base64'), rng.bytes(rng.int(1, 30)), b4a.from([0, 0])])))
        break
      case 'add': {
        let target = rng.pick([...writers, outsider])
        const i = writers.indexOf(target)
        // A removed key is never added back (it is refused); the device comes
        // back under a new key, as an invite gives it. Sometimes try the old
        // key anyway, to see the refusal.
        const old = findMember(membership, target.key)
        if (i > 0 && old !== undefined && old.removed && rng.bool(0.75)) target = writers[i] = newWriter(rng)
        const role: Role = rng.bool(0.25) ? 'owner' : 'writer'
        push(w, enc({ kind: 'add-writer', key: target.key, role }))
        break
      }
      case 'remove':
        push(w, enc({ kind: 'remove-writer', key: rng.pick(writers.slice(1)).key }))
        break
      case 'profile': {
        const block: Block = { kind: 'profile', name: rng.string(rng.int(0, 10), [...'abc xyz']), color: rng.pick(['', '#112233', '#abcdef']), device: rng.bool() ? b4a.from(rng.bytes(32)) : null }
        push(w, enc(block))
        break
      }
      case 'meta':
        push(w, enc({ kind: 'meta', title: rng.string(rng.int(0, 20), [...'title ']) }))
        break
      case 'ack':
        push(w, null)
        break
      case 'empty': {
        // A valid Yjs update that changes nothing.
        push(w, update(Y.encodeStateAsUpdate(new Y.Doc())))
        break
      }
    }
  }
  return { creator, nodes, kinds }
}

/// Batch splitters and rewinders driven by the seed.
const splits = (rng: Prng) => ({
  whole: () => Number.MAX_SAFE_INTEGER,
  ones: () => 1,
  random: () => rng.int(1, rng.pick([3, 20, 200])),
  rewinding: () => rng.int(1, 40)
})

describe('apply() determinism', () => {
  test.for([2, 1] as const)('format v%i: the same nodes in different batch splits and after truncate + re-apply give identical views and text', async (format, ctx) => {
    const rng = seeded(ctx)
    // Enough accepted updates for several snapshots.
    const length = iterations(SNAPSHOT_INTERVAL * 4)
    const history = randomHistory(rng, length, format)
    const s = splits(rng)
    const reference = await run(history.creator, history.nodes, s.whole)
    const byOne = await run(history.creator, history.nodes, s.ones)
    const random = await run(history.creator, history.nodes, s.random)
    const rewound = await run(history.creator, history.nodes, s.rewinding, (n) => (rng.bool(0.15) ? rng.int(0, n - 2) : null))
    expect(rewound.truncations).toBeGreaterThan(0)
    sameRun(reference, byOne, 'batches of one')
    sameRun(reference, random, 'random batches')
    sameRun(reference, rewound, 'random batches with truncate + re-apply')

    // The history exercised what it should: snapshots, refusals of every kind, membership changes.
    const v = reference.view
    expect(v.snapshots.length).toBeGreaterThanOrEqual(2)
    const reasons = v.rejections.blocks.map((b) => decodeRejectionEntry(b, format).reason)
    const has = (re: RegExp) => reasons.some((r) => re.test(r))
    expect(has(/signer is not a member/), 'non-member blocks').toBe(true)
    expect(has(/authored by another writer/), 'forged clientIDs').toBe(true)
    expect(has(/bad update/), 'malformed Yjs').toBe(true)
    expect(has(/only owners/), 'non-owner membership changes').toBe(true)
    expect(has(format === 1 ? /^(truncated|trailing|unknown block|non-canonical|empty)/ : /^malformed block$/), 'undecodable blocks').toBe(true)
    expect(v.members.length).toBeGreaterThan(2)
    expect(reference.host.interrupts).toEqual([])

    // Snapshots: v1 at every SNAPSHOT_INTERVAL; v2 at most that far apart (and also by size).
    let previous = 0
    for (const [i, b] of v.snapshots.blocks.entries()) {
      const at = decodeSnapshotEntry(b).updates
      if (format === 1) expect(at).toBe((i + 1) * SNAPSHOT_INTERVAL)
      else expect(at - previous).toBeGreaterThan(0)
      expect(at - previous).toBeLessThanOrEqual(SNAPSHOT_INTERVAL)
      previous = at
    }
    expect(v.members.blocks.length > 0 && decodeMembership(v.members.blocks[0]!).format).toBe(format)

    // The same text whether folded entry by entry or rebuilt from the newest snapshot.
    const folded = [reference, byOne, random, rewound].map((r, i) => fold(r.view, i === 0))
    for (const f of folded) {
      expect(f.text).toBe(folded[0]!.text)
      expect(b4a.equals(f.stateVector, folded[0]!.stateVector)).toBe(true)
    }
    expect(folded[0]!.fromSnapshot).toBe(folded[0]!.text)
    expect(folded[0]!.text.length).toBeGreaterThan(0)

    // Membership rules hold in the result.
    const m = membershipOf(v, history.creator)!
    expect(m.members.filter((x) => !x.removed && x.role === 'owner').length).toBeGreaterThanOrEqual(1)
    expect(m.members.filter((x) => !x.removed && x.role === 'owner').length).toBeLessThanOrEqual(3)
    expect(b4a.equals(m.members[0]!.key, history.creator)).toBe(true)
    const activeKeys = new Set(m.members.filter((x) => !x.removed).map((x) => hex(x.key)))
    expect(activeKeys).toEqual(reference.host.writers)
    const ownerKeys = new Set(m.members.filter((x) => !x.removed && x.role === 'owner').map((x) => hex(x.key)))
    expect(ownerKeys).toEqual(reference.host.indexers)
  })

  test('the comparison can fail: dropping or reordering one node changes the views', async (ctx) => {
    const rng = seeded(ctx)
    const history = randomHistory(rng, 200)
    const reference = await run(history.creator, history.nodes, () => 17)
    // Drop the first accepted update node.
    const i = history.nodes.findIndex((n, k) => k > 0 && n.value !== null && n.value[1] === 1 && b4a.equals(n.from.key, history.creator))
    expect(i).toBeGreaterThan(0)
    const dropped = await run(history.creator, history.nodes.filter((_, k) => k !== i), () => 17)
    expect(() => sameRun(reference, dropped, 'dropped')).toThrow()
  })

  test('an update signed by a writer whose clientID it does not carry is refused; a removed writer changes nothing', async (ctx) => {
    const rng = seeded(ctx)
    const owner = newWriter(rng)
    const bob = newWriter(rng)
    const nodes: AutobaseNode[] = []
    nodes.push(node(owner, encodeBlock({ kind: 'add-writer', key: bob.key, role: 'writer' })))
    nodes.push(node(owner, update(randomEdit(rng, owner)!)))
    nodes.push(node(bob, update(randomEdit(rng, bob)!)))
    // Bob signs text under the owner's clientID.
    const forger = new Y.Doc()
    forger.clientID = clientIdFor(owner.key)
    forger.getText(TEXT_ROOT).insert(0, 'not mine')
    nodes.push(node(bob, update(Y.encodeStateAsUpdate(forger))))
    // Bob tries to manage membership.
    nodes.push(node(bob, encodeBlock({ kind: 'remove-writer', key: owner.key })))
    nodes.push(node(bob, encodeBlock({ kind: 'add-writer', key: b4a.from(rng.bytes(32)), role: 'owner' })))
    // The owner removes bob; bob keeps writing.
    nodes.push(node(owner, encodeBlock({ kind: 'remove-writer', key: bob.key })))
    nodes.push(node(bob, update(randomEdit(rng, bob)!)))
    nodes.push(node(bob, encodeBlock({ kind: 'profile', name: 'ghost', color: '', device: null })))
    // A removed key is not added back (the device is invited again under a new key).
    nodes.push(node(owner, encodeBlock({ kind: 'add-writer', key: bob.key, role: 'writer' })))
    // The last owner cannot remove itself.
    nodes.push(node(owner, encodeBlock({ kind: 'remove-writer', key: owner.key })))
    const r = await run(owner.key, nodes, () => 2)
    const rejections = r.view.rejections.blocks.map((b) => decodeRejectionEntry(b, BLOCK_VERSION))
    const summary = rejections.map((x) => `${b4a.equals(x.writer, bob.key) ? 'bob' : 'owner'}#${x.seq}: ${x.reason}`)
    expect(summary).toEqual([
      'bob#1: update holds text authored by another writer',
      'bob#2: only owners remove members',
      'bob#3: only owners add members',
      'bob#4: signer is not a member',
      'bob#5: signer is not a member',
      'owner#3: a removed writer key cannot be added back; invite the device again',
      'owner#4: the last owner cannot be removed'
    ])
    expect(r.view.updates.length).toBe(2)
    expect(fold(r.view, true).text).not.toContain('not mine')
    expect([...r.host.writers]).toEqual([hex(owner.key)])
  })

  test("a writer's text must continue its own clock: a forked history or a gap is refused, on a fresh apply() too", async (ctx) => {
    const rng = seeded(ctx)
    const owner = newWriter(rng)
    const nodes: AutobaseNode[] = []
    nodes.push(node(owner, update(randomEdit(rng, owner)!)))
    nodes.push(node(owner, update(randomEdit(rng, owner)!)))
    // A second device with the same key (a copied directory) writes its own history.
    const twin = newWriter(rng)
    twin.doc.clientID = owner.doc.clientID
    twin.key = owner.key
    twin.seq = owner.seq
    const forked = randomEdit(rng, twin)!
    nodes.push(node(owner, update(forked)))
    // A gap: an update that skips clocks (its predecessor never written).
    // (It must insert: a delete-only edit takes no clock and leaves no gap.)
    owner.doc.getText(TEXT_ROOT).insert(0, 'never written')
    const before = owner.updates.length
    owner.doc.getText(TEXT_ROOT).insert(0, 'after the gap')
    expect(owner.updates.length).toBe(before + 1)
    nodes.push(node(owner, update(owner.updates[owner.updates.length - 1]!)))
    // Deleting needs no clock of one's own: always fine, of text that is in
    // the document. (Not of 'after the gap' or 'never written': deleting text
    // that is not in the document is refused.) Here: the owner's clock 0,
    // which its first accepted update wrote (deleted since or not).
    const varuint = (n: number): number[] => {
      const out: number[] = []
      for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80)
      return [...out, n]
    }
    const deleteOnly = new Uint8Array([0, 1, ...varuint(owner.doc.clientID), 1, 0, 1])
    nodes.push(node(owner, update(deleteOnly)))
    const r = await run(owner.key, nodes, () => 1)
    const reasons = r.view.rejections.blocks.map((b) => decodeRejectionEntry(b, BLOCK_VERSION).reason)
    expect(reasons).toHaveLength(2)
    expect(reasons[0]).toMatch(/^update does not continue its writer's text \(clock 0, expected \d+\)$/)
    expect(reasons[1]).toMatch(/^update does not continue its writer's text/)
    expect(r.view.updates.length).toBe(3)

    // A new apply() (a restart, or a peer that fast-forwarded) rebuilds the
    // clocks from the newest snapshot and the entries after it.
    const history = randomHistory(rng, SNAPSHOT_INTERVAL * 2 + 50)
    const cut = history.nodes.length - 40
    const whole = await run(history.creator, history.nodes, () => 25)
    const first = await run(history.creator, history.nodes.slice(0, cut), () => 25)
    const fresh = createApply(() => history.creator)
    for (let i = cut; i < history.nodes.length; i += 7) {
      await fresh(history.nodes.slice(i, Math.min(history.nodes.length, i + 7)), first.view as unknown as DocumentView, first.host)
    }
    sameRun(whole, first, 'continued by a fresh apply()')
  })

  test("one apply() handed another view of the same length uses that view's clocks", async (ctx) => {
    // Autobase makes its apply state (and the view object) again after a
    // fast-forward or a reboot; apply()'s cached writer clocks must follow
    // the view, not its length.
    const rng = seeded(ctx)
    const owner = newWriter(rng)
    const creator = owner.key
    const apply = createApply(() => creator)
    const reasonsOf = (v: FakeView) => v.rejections.blocks.map((b) => decodeRejectionEntry(b, BLOCK_VERSION).reason)

    // Two histories of the owner's text that part after a shared start.
    const start = update(randomEdit(rng, owner)!)
    const branch = newWriter(rng)
    branch.key = owner.key
    branch.doc.clientID = owner.doc.clientID
    Y.applyUpdate(branch.doc, Y.encodeStateAsUpdate(owner.doc))
    branch.doc.clientID = owner.doc.clientID // Yjs picks a new one when it sees its own in an update
    branch.updates.length = 0
    owner.doc.getText(TEXT_ROOT).insert(0, 'a long insert on the first branch')
    const long = update(owner.updates[owner.updates.length - 1]!)
    branch.doc.getText(TEXT_ROOT).insert(0, 'short')
    const short = update(branch.updates[branch.updates.length - 1]!)
    branch.doc.getText(TEXT_ROOT).insert(0, 'next ')
    const next = update(branch.updates[branch.updates.length - 1]!)
    const host = new FakeHost(creator)
    const at = (seq: number, value: Uint8Array): AutobaseNode => ({ from: { key: owner.key }, length: seq, value: Buffer.from(value), heads: [] })

    // This apply() folds [start, long] into view A.
    const a = newView()
    await apply([at(1, start), at(2, long)], a as unknown as DocumentView, host)
    expect(a.updates.length).toBe(2)

    // View B, of the same length, holds [start, short] (another apply filled it).
    const b = newView()
    await createApply(() => creator)([at(1, start), at(2, short)], b as unknown as DocumentView, new FakeHost(creator))
    expect(reasonsOf(b)).toEqual([])
    expect(b.updates.length).toBe(2)
    await apply([at(3, next)], b as unknown as DocumentView, host)
    expect(reasonsOf(b)).toEqual([])
    expect(b.updates.length).toBe(3)

  })

  test('a block of a newer version interrupts apply; from a non-member it is only refused', async (ctx) => {
    const rng = seeded(ctx)
    const owner = newWriter(rng)
    const outsider = newWriter(rng)
    const newer = b4a.from([BLOCK_VERSION_NEXT, 1, 0])
    const before = [node(owner, update(randomEdit(rng, owner)!)), node(outsider, newer)]
    const interrupting = node(owner, newer)
    const after = [node(owner, update(randomEdit(rng, owner)!))]
    for (const size of [1, 2, 100]) {
      const r = await run(owner.key, [...before, interrupting, ...after], () => size)
      expect(r.host.interrupts.length, `batch ${size}`).toBeGreaterThanOrEqual(1)
      expect(String(r.host.interrupts[0])).toContain(UPGRADE_REASON)
      expect(String(r.host.interrupts[0])).toContain(`version ${BLOCK_VERSION_NEXT}`)
      // Nothing at or after the newer block is applied in its batch; the outsider's block is refused.
      const reasons = r.view.rejections.blocks.map((b) => decodeRejectionEntry(b, BLOCK_VERSION).reason)
      expect(reasons).toEqual(['signer is not a member'])
      if (size !== 1) expect(r.view.updates.length).toBe(1)
    }
  })
})

const BLOCK_VERSION_NEXT = BLOCK_VERSION + 1

function decodeBlockOrThrow(bytes: Uint8Array): Block {
  const r = decodeBlock(bytes)
  if (!r.ok) throw new Error('not a block')
  return r.block
}
