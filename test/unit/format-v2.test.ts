// Format 2's rules in apply(), in-process (no disk, no network): how the
// first block decides a document's format, the genesis type, blocks of the
// other format, seeds, carried clients and size-based snapshots
// (src/doc/PROTOCOL.md: "The version rule", "Seeds and carried clients",
// "The snapshot rule").
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import { randomBytes } from 'node:crypto'
import type { AutobaseNode } from 'autobase'
import { createApply, type DocumentView } from '../../src/sync/view.js'
import { encodeBlock, type Block, type FormatVersion } from '../../src/doc/blocks.js'
import { clientIdFor, decodeMembership } from '../../src/doc/membership.js'
import { decodeRejectionEntry, decodeSnapshotEntry, decodeUpdateEntry } from '../../src/doc/entries.js'
import { Refusal } from '../../src/doc/refusals.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL, SNAPSHOT_MIN_BYTES } from '../../src/limits.js'
import { FakeHost, newView, type FakeView } from '../helpers/fake-autobase.js'
import { lateUpdates, carryState } from '../../src/sync/carry.js'

interface Writer {
  key: Buffer
  seq: number
  doc: Y.Doc
}

function writer(clientId?: number): Writer {
  const key = randomBytes(32)
  const doc = new Y.Doc()
  doc.clientID = clientId ?? clientIdFor(key)
  doc.getText(TEXT_ROOT)
  return { key, seq: 0, doc }
}

/// One node of `w` carrying `block` in `format`.
function node(w: Writer, block: Block | Uint8Array, format: FormatVersion = 2): AutobaseNode {
  w.seq++
  const value = block instanceof Uint8Array ? block : encodeBlock(block, format)
  return { from: { key: w.key }, length: w.seq, value: Buffer.from(value), heads: [] }
}

/// `w` types `text` at `at`; the Yjs update it makes.
function type(w: Writer, at: number, text: string): Uint8Array {
  const updates: Uint8Array[] = []
  const on = (u: Uint8Array) => updates.push(u)
  w.doc.on('update', on)
  w.doc.getText(TEXT_ROOT).insert(at, text)
  w.doc.off('update', on)
  return updates[0]!
}

const update = (yjs: Uint8Array): Block => ({ kind: 'update', time: 1, yjs })

async function applied(creator: Writer, nodes: AutobaseNode[]): Promise<{ view: FakeView; host: FakeHost }> {
  const view = newView()
  const host = new FakeHost(creator.key)
  await createApply(() => creator.key)(nodes, view as unknown as DocumentView, host)
  return { view, host }
}

const textOf = (view: FakeView) => {
  const doc = new Y.Doc()
  for (const b of view.updates.blocks) Y.applyUpdate(doc, decodeUpdateEntry(b).yjs)
  return doc.getText(TEXT_ROOT).toString()
}
const membershipOf = (view: FakeView) => decodeMembership(view.members.blocks[view.members.length - 1]!)
const codes = (view: FakeView) => view.rejections.blocks.map((b) => decodeRejectionEntry(b, 2).code)

describe('format 2 in apply()', () => {
  test('the first block decides the format: a v2 genesis writes a v2 record first; a v1 first block keeps format 1', async () => {
    const a = writer()
    const v2 = await applied(a, [node(a, { kind: 'genesis', type: 0 }), node(a, update(type(a, 0, 'hi')))])
    expect(v2.view.members.length).toBe(1)
    expect(membershipOf(v2.view)).toMatchObject({ format: 2, type: 0 })
    expect(textOf(v2.view)).toBe('hi')

    const b = writer()
    const v1 = await applied(b, [node(b, update(type(b, 0, 'hi')), 1), node(b, { kind: 'meta', title: 'T' }, 1)])
    expect(membershipOf(v1.view)).toMatchObject({ format: 1, title: 'T' })
    expect(v1.view.members.blocks[0]![0]).toBe(1) // the record's version byte
    expect(textOf(v1.view)).toBe('hi')
  })

  test('a block of the other format is refused with WRONG_VERSION (v1 words in a v1 document); text goes on', async () => {
    const a = writer()
    const r = await applied(a, [node(a, { kind: 'genesis', type: 0 }), node(a, update(type(a, 0, 'x')), 1), node(a, update(type(a, 0, 'y')))])
    expect(codes(r.view)).toEqual([Refusal.WRONG_VERSION, Refusal.CLOCK_GAP])
    // The v1 block's text was never accepted, so the next v2 update (which
    // continues the same clock) is refused too: what the device's rebuild fixes.
    const b = writer()
    const v1 = await applied(b, [node(b, update(type(b, 0, 'x')), 1), node(b, { kind: 'meta', title: 'T' }, 2)])
    expect(v1.view.rejections.blocks.map((x) => decodeRejectionEntry(x, 1).reason)).toEqual(['block is not in the format version of the document'])
  })

  test('a genesis of an unknown type stops the document (upgrade swarmpad); a later genesis is refused', async () => {
    const a = writer()
    const r = await applied(a, [node(a, { kind: 'genesis', type: 7 })])
    expect(String(r.host.interrupts[0])).toMatch(/upgrade swarmpad: the document is of a newer type \(type 7\)/)
    expect(r.view.members.length).toBe(0)
    const b = writer()
    const again = await applied(b, [node(b, { kind: 'genesis', type: 0 }), node(b, { kind: 'genesis', type: 0 })])
    expect(codes(again.view)).toEqual([Refusal.GENESIS_NOT_FIRST])
  })

  test('an update naming another file than 0 is refused (a document has one)', async () => {
    const a = writer()
    const r = await applied(a, [node(a, { kind: 'genesis', type: 0 }), node(a, { kind: 'update', time: 1, yjs: type(a, 0, 'x'), file: 1 })])
    expect(codes(r.view)).toEqual([Refusal.UNKNOWN_FILE])
  })

  test('a seed brings other clients with their identities; only the creator seeds, only first; a follower carries its old client exactly', async () => {
    // The old document: Ann and Bob typed; Bob's last word did not reach the seed.
    const annOld = writer()
    const bobOld = writer()
    Y.applyUpdate(bobOld.doc, type(annOld, 0, 'Hello world'))
    const bobSeeded = type(bobOld, 5, ',')
    Y.applyUpdate(annOld.doc, bobSeeded)
    const seed = Y.encodeStateAsUpdate(annOld.doc)
    const seedClock = Y.getState(annOld.doc.store, bobOld.doc.clientID)
    const bobLate = type(bobOld, 12, '!') // "Hello, world!" on Bob's device only
    const bobLater = type(bobOld, 13, '?')
    const owner = writer()
    const bob = writer()
    const nodes = [
      node(owner, { kind: 'genesis', type: 0 }),
      node(owner, { kind: 'seed', yjs: seed }),
      node(owner, { kind: 'add-writer', key: bob.key, role: 'writer', continues: bobOld.doc.clientID }),
      node(bob, update(bobLate))
    ]
    const r = await applied(owner, nodes)
    expect(codes(r.view)).toEqual([])
    expect(textOf(r.view)).toBe('Hello, world!')
    expect(membershipOf(r.view).members[1]).toMatchObject({ carries: bobOld.doc.clientID, clientId: clientIdFor(bob.key) })
    // The append queue may merge a carried edit with typing into one update:
    // an item of Bob's own client built on the carried text in that update.
    const bobNow = writer()
    bobNow.key = bob.key
    bobNow.doc.clientID = clientIdFor(bob.key)
    Y.applyUpdate(bobNow.doc, seed)
    Y.applyUpdate(bobNow.doc, bobLate)
    const typed = type(bobNow, 13, ' Bye.')
    const merged = await applied(owner, [...nodes.slice(0, 3), node({ ...bob, seq: 0 }, update(Y.mergeUpdates([bobLate, typed])))])
    expect(codes(merged.view)).toEqual([])
    expect(textOf(merged.view)).toBe('Hello, world! Bye.')
    // Carried text must continue the client's clock, like any text.
    expect(Y.parseUpdateMeta(bobLater).from.get(bobOld.doc.clientID)).toBe(seedClock + 1)
    const gap = await applied(owner, [...nodes.slice(0, 3), node(bob, update(bobLater))])
    expect(codes(gap.view)).toEqual([Refusal.CLOCK_GAP])
    // Someone else cannot write the carried client (only its carrier can).
    const cid = writer()
    const stolen = await applied(owner, [
      ...nodes.slice(0, 3),
      node(owner, { kind: 'add-writer', key: cid.key, role: 'writer' }),
      node(cid, update(bobLate))
    ])
    expect(codes(stolen.view)).toEqual([Refusal.FOREIGN_TEXT])
    // A client already carried (or a member's) cannot be carried again.
    const twice = await applied(owner, [...nodes.slice(0, 3), node(owner, { kind: 'add-writer', key: cid.key, role: 'writer', continues: bobOld.doc.clientID })])
    expect(codes(twice.view)).toEqual([Refusal.BAD_CONTINUATION])
    // Seeds: not after an update, not from another member.
    const late = await applied(owner, [node(owner, { kind: 'genesis', type: 0 }), node(owner, update(type(owner, 0, 'x'))), node(owner, { kind: 'seed', yjs: seed })])
    expect(codes(late.view)).toEqual([Refusal.SEED_NOT_FIRST])
    const other = writer()
    const notCreator = await applied(owner, [node(owner, { kind: 'genesis', type: 0 }), node(owner, { kind: 'add-writer', key: other.key, role: 'owner' }), node(other, { kind: 'seed', yjs: seed })])
    expect(codes(notCreator.view)).toEqual([Refusal.SEED_NOT_FIRST])
  })

  test('carry helpers: late updates are cut at the seed clock; an update waits for what it builds on', () => {
    const a = writer()
    const b = writer()
    const u1 = type(a, 0, 'abc')
    const u2 = type(a, 3, 'def')
    // The seed holds a's first 4 clocks: u1 whole, one character of u2.
    const late = lateUpdates([u1, u2], a.doc.clientID, 4)
    expect(late).toHaveLength(1)
    expect(Y.parseUpdateMeta(late[0]!).from.get(a.doc.clientID)).toBe(4)
    // b typed after a's late text: b's update builds on it.
    Y.applyUpdate(b.doc, u1)
    Y.applyUpdate(b.doc, u2)
    const ub = type(b, 6, 'g')
    const state = new Map<number, number>([[b.doc.clientID, 0], [a.doc.clientID, 4]])
    const stateOf = (c: number) => state.get(c) ?? 0
    expect(carryState(ub, b.doc.clientID, stateOf)).toBe('wait')
    state.set(a.doc.clientID, 6)
    expect(carryState(ub, b.doc.clientID, stateOf)).toBe('ready')
    state.set(b.doc.clientID, 1)
    expect(carryState(ub, b.doc.clientID, stateOf)).toBe('done')
    expect(carryState(ub, a.doc.clientID, stateOf)).toBe('bad')
  })

  test('snapshots: format 2 also by size (bytes since the newest reach max(64 KiB, its size)); format 1 only every 512', async () => {
    for (const format of [2, 1] as const) {
      const a = writer()
      const nodes = format === 2 ? [node(a, { kind: 'genesis', type: 0 })] : []
      // 40 updates of ~4 KiB of incompressible text (sent as they are).
      for (let i = 0; i < 40; i++) nodes.push(node(a, update(type(a, 0, b4a.toString(randomBytes(3000), 'base64'))), format))
      const r = await applied(a, nodes)
      const at = r.view.snapshots.blocks.map((b) => decodeSnapshotEntry(b).updates)
      if (format === 1) expect(at).toEqual([])
      else {
        expect(at.length).toBeGreaterThanOrEqual(1)
        expect(at[0]!).toBeLessThan(SNAPSHOT_INTERVAL)
        // The first came once 64 KiB of entries were there.
        const bytes = r.view.updates.blocks.slice(0, at[0]!).reduce((n, b) => n + b.length, 0)
        expect(bytes).toBeGreaterThanOrEqual(SNAPSHOT_MIN_BYTES)
        expect(bytes - r.view.updates.blocks[at[0]! - 1]!.length).toBeLessThan(SNAPSHOT_MIN_BYTES)
      }
    }
  })
})
