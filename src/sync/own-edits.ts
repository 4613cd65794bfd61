import * as Y from 'yjs'
import type { ChangeSet } from '@codemirror/state'
import { changeSetOf, type TextChange } from '../doc/changes.js'
import { TEXT_ROOT } from '../doc/yjs-guard.js'
import type { UpdateEntry } from '../doc/entries.js'
import { REMOTE } from './replica.js'

// What a re-key's follower carries over: pure functions of the view's
// newest snapshot, the entries after it and this device's updates the view
// does not hold yet. No disk, no network.

/// Whether the snapshot `state` holds text of `client` from its clock
/// `clock` on (then its later edits cannot be told apart from the rest).
export function holdsFrom(state: Uint8Array, client: number, clock: number): boolean {
  return (Y.decodeStateVector(Y.encodeStateVectorFromUpdate(state)).get(client) ?? 0) > clock
}

export interface OwnEditsInput {
  /// The newest snapshot's state, or null when there is none.
  snapshot: Uint8Array | null
  /// The update entries after the snapshot, in view order.
  entries: readonly UpdateEntry[]
  /// This device's member number (-1: none).
  self: number
  /// This device's updates the view does not hold yet, oldest first.
  unsent: readonly Uint8Array[]
  /// This device's Yjs clientID.
  client: number
  /// Its clock the seed holds: edits from it on are the late ones.
  clock: number
}

/// What this device typed from its Yjs clock `clock` on, as two texts:
/// `before` without those edits, `after` with them, and the changes between.
///
/// `before` is the whole document seen through a Yjs snapshot: every
/// client's items, ours only below `clock`, and only the deletions of the
/// other updates. Others' text typed next to (so depending on) our late text
/// stays in it, where folding the other updates alone would leave it out.
/// An update of ours that only deletes has no clock: it counts as late once
/// it comes after our last update the seed holds (carrying over a deletion
/// the seed already has changes nothing).
export function ownEditsDelta(input: OwnEditsInput): { before: string; after: string; changes: ChangeSet } {
  const { client: me, clock } = input
  const all: Uint8Array[] = []
  const others: Uint8Array[] = []
  const own: Uint8Array[] = []
  if (input.snapshot !== null) {
    all.push(input.snapshot)
    others.push(input.snapshot)
  }
  for (const entry of input.entries) {
    all.push(entry.yjs)
    ;(entry.member === input.self ? own : others).push(entry.yjs)
  }
  for (const u of input.unsent) {
    all.push(u)
    own.push(u)
  }
  const froms = own.map((u) => Y.parseUpdateMeta(u).from.get(me))
  const lastSeeded = froms.reduce<number>((last, from, i) => (from !== undefined && from < clock ? i : last), -1)
  const seeded = own.filter((_, i) => {
    const from = froms[i]
    return from !== undefined ? from < clock : i < lastSeeded
  })
  const doc = new Y.Doc({ gc: false })
  try {
    if (all.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(all), REMOTE)
    const text = doc.getText(TEXT_ROOT)
    const deleted = Y.mergeDeleteSets([...others, ...seeded].map((u) => Y.decodeUpdate(u).ds))
    const clocks = Y.decodeStateVector(Y.encodeStateVector(doc))
    clocks.set(me, Math.min(clocks.get(me) ?? 0, clock))
    // Item by item, what our late updates added and removed: exact, where
    // a diff of the two texts could pair up unrelated characters.
    const delta = text.toDelta(Y.snapshot(doc), Y.createSnapshot(deleted, clocks)) as Array<{ insert?: unknown; attributes?: { ychange?: { type?: string } } }>
    let before = ''
    let after = ''
    const changes: TextChange[] = []
    for (const op of delta) {
      if (typeof op.insert !== 'string') continue
      const kind = op.attributes?.ychange?.type
      const last = changes[changes.length - 1]
      if (kind === 'added') {
        if (last !== undefined && (last.to ?? last.from) === before.length) last.insert = (last.insert ?? '') + op.insert
        else changes.push({ from: before.length, to: before.length, insert: op.insert })
        after += op.insert
      } else if (kind === 'removed') {
        const from = before.length
        before += op.insert
        if (last !== undefined && (last.to ?? last.from) === from) last.to = before.length
        else changes.push({ from, to: before.length, insert: '' })
      } else {
        before += op.insert
        after += op.insert
      }
    }
    return { before, after, changes: changeSetOf(changes, before.length) }
  } finally {
    doc.destroy()
  }
}
