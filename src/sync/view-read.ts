import { decodeSnapshotEntry, decodeUpdateEntry, type SnapshotEntry, type UpdateEntry } from '../doc/entries.js'
import { findMember, type Member } from '../doc/membership.js'
import type { Key } from '../doc/blocks.js'
import { readMembership, type DocumentView } from './view.js'

/// How many view blocks are requested at once when reading a range: a view
/// that is sparse after a fast-forward is read from peers, and one request
/// at a time would cost a round trip per entry (a joining device read the
/// 147 entries of automerge-paper in about a second that way).
const READ_BATCH = 128

/// Blocks `from`..`end` of a core, requested READ_BATCH at a time.
export async function readBlocks(core: { get(index: number): Promise<Buffer | null> }, from: number, end: number): Promise<Array<Buffer | null>> {
  const blocks: Array<Buffer | null> = []
  for (let start = from; start < end; start += READ_BATCH) {
    const stop = Math.min(end, start + READ_BATCH)
    blocks.push(...(await Promise.all(Array.from({ length: stop - start }, (_, k) => core.get(start + k)))))
  }
  return blocks
}

/// Update entries `from`..`end` of the view, decoded in order. `missing` is
/// the index of the first entry this device could not read (the entries
/// stop before it), or null when all were read.
export async function readEntries(core: DocumentView['updates'], from: number, end: number): Promise<{ entries: UpdateEntry[]; missing: number | null }> {
  const blocks = await readBlocks(core, from, end)
  const entries: UpdateEntry[] = []
  for (let i = from; i < end; i++) {
    const block = blocks[i - from]
    if (!block) return { entries, missing: i }
    entries.push(decodeUpdateEntry(block))
  }
  return { entries, missing: null }
}

/// The newest snapshot of the view: 'none' when there is none yet,
/// 'unavailable' when this device cannot read it.
export async function newestSnapshot(view: DocumentView): Promise<SnapshotEntry | 'none' | 'unavailable'> {
  if (view.snapshots.length === 0) return 'none'
  const block = await view.snapshots.get(view.snapshots.length - 1)
  if (block === null) return 'unavailable'
  return decodeSnapshotEntry(block)
}

/// The member record of the writer `local` as of `view` (removed or not).
export async function readSelf(view: DocumentView, creator: Key, local: Key): Promise<Member | undefined> {
  return findMember(await readMembership(view, creator), local)
}

/// This device was removed, and the record saying so is signed (a reorder
/// cannot undo it): what it wrote that the view does not hold will never be
/// accepted. (A membership read in the middle of a reorder may miss this
/// device, or show it removed, for a moment: that must not drop its edits.)
export function removedForGood(self: Member | undefined, view: Pick<DocumentView, 'members'>): boolean {
  return self !== undefined && self.removed && view.members.length <= (view.members.signedLength ?? 0)
}

/// Resolves after `ms` without keeping the process alive.
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
