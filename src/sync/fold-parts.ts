import { decodeUpdateEntry, type UpdateEntry } from '../doc/entries.js'
import type { Checkpoint } from './checkpoint.js'
import type { OwnUpdates } from './own-updates.js'

// The pure steps of folding the view into the Y.Doc: what to apply, which
// entries were folded (their identities, to notice one leaving the view) and
// where this device's own updates are. No Yjs, no disk: the fold reads the
// view and hands the entries here.

/// The identity of an update entry (member:seq): the same wherever a reorder puts it.
export function entryId(entry: Pick<UpdateEntry, 'member' | 'seq'>): string {
  return `${entry.member}:${entry.seq}`
}

/// What a Y.Doc is built from: the snapshot state (if any), then the entries
/// at view indexes `from`, `from + 1`...; their identities, and where the
/// entries of member `self` are (log position -> view index).
export function collectParts(
  snapshot: Uint8Array | null,
  from: number,
  entries: readonly UpdateEntry[],
  self: number
): { parts: Uint8Array[]; ids: string[]; seen: Map<number, number> } {
  const parts: Uint8Array[] = snapshot !== null ? [snapshot] : []
  const ids: string[] = []
  const seen = new Map<number, number>()
  for (const [k, entry] of entries.entries()) {
    ids.push(entryId(entry))
    parts.push(entry.yjs)
    if (entry.member === self) seen.set(entry.seq, from + k)
  }
  return { parts, ids, seen }
}

/// Fold the view blocks at `from`, `from + 1`... on top of what was folded:
/// their identities go to `ids`, where ours are to `own.index`, and the
/// updates to apply are returned (ours still pending are in the Y.Doc
/// already). Throws, before recording anything, when this device does not
/// have one of the blocks (recording the ones before it without counting
/// them folded would misalign `ids` with the view at the next fold).
export function takeNew(blocks: ReadonlyArray<Uint8Array | null | undefined>, from: number, own: OwnUpdates, ids: string[]): Uint8Array[] {
  const missing = blocks.findIndex((b) => !b)
  if (missing !== -1) throw new Error(`update ${from + missing} is unavailable`)
  const updates: Uint8Array[] = []
  for (let i = from; i < from + blocks.length; i++) {
    const block = blocks[i - from]
    if (!block) throw new Error(`update ${i} is unavailable`)
    const entry = decodeUpdateEntry(block)
    ids.push(entryId(entry))
    if (entry.member === own.member) {
      own.index.set(entry.seq, i)
      // Ours and still in the Y.Doc: nothing to apply. (Ours from an
      // earlier session, or dropped by a rebuild, is applied like any other.)
      if (own.pending.has(entry.seq)) continue
    }
    updates.push(entry.yjs)
  }
  return updates
}

/// Whether every entry folded at `from`..`folded` (identities `ids`, the
/// first at `idsStart`) is among `present` (the identities now in the view from `from` on).
export function allStillThere(present: ReadonlySet<string>, ids: readonly string[], idsStart: number, from: number, folded: number): boolean {
  for (let i = from; i < folded; i++) {
    if (!present.has(ids[i - idsStart]!)) return false
  }
  return true
}

/// How to adopt a checkpoint, given the view's `end` and its entries from
/// `cp.signed` on: the parts to apply on top of its state, their identities
/// and where ours are, and whether the view holds exactly what the checkpoint
/// does (`unchanged`: its text can be shown before Yjs loads it). 'stale'
/// when the view no longer has an update the checkpoint holds.
export function checkpointPlan(
  cp: Checkpoint,
  end: number,
  entries: readonly UpdateEntry[],
  self: number
): { parts: Uint8Array[]; ids: string[]; seen: Map<number, number>; unchanged: boolean } | 'stale' {
  const { parts, ids, seen } = collectParts(null, cp.signed, entries, self)
  const present = new Set(ids)
  if (!cp.tail.every((id) => present.has(id))) return 'stale'
  const unchanged = end === cp.length && ids.every((id, i) => id === cp.tail[i])
  return { parts, ids, seen, unchanged }
}

/// Which folded entries a checkpoint names: from `signed` (at least the
/// first identity kept, at most the signed length) to `folded`. Null when
/// the entries below that are not all signed (they cannot be named).
export function checkpointTail(folded: number, ids: readonly string[], idsStart: number, signedLength: number): { signed: number; tail: string[] } | null {
  const signed = Math.max(idsStart, Math.min(signedLength, folded))
  if (signed > signedLength) return null // entries below it are not all signed: cannot name them
  return { signed, tail: ids.slice(signed - idsStart) }
}
