import * as Y from 'yjs'
import type { SwarmDocument } from '../sync/document.js'
import { decodeSnapshotEntry, decodeUpdateEntry } from '../doc/entries.js'
import { TEXT_ROOT } from '../doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL } from '../limits.js'
import { SwarmpadError } from '../errors.js'
import { MAX_TIMELINE_POINTS, type BlameRun, type TimelinePoint } from './protocol.js'

/// The document's history, read from its `updates` and `snapshots` views.
///
/// The text at index i is what folding the first i accepted updates gives
/// (0: the empty document; updateCount: now), computed in a fresh Y.Doc from
/// the newest snapshot at or below i plus the updates after it. One folded
/// Y.Doc is kept, so dragging the slider forward only folds the updates in
/// between. Blame names, for each character present at i, the member whose
/// Yjs clientID created it.
export class DocumentHistory {
  private readonly doc: SwarmDocument
  /// The folded Y.Doc and how many updates it holds.
  private cache: { index: number; ydoc: Y.Doc } | null = null

  constructor(doc: SwarmDocument) {
    this.doc = doc
  }

  close(): void {
    this.cache?.ydoc.destroy()
    this.cache = null
  }

  get count(): number {
    return this.doc.updateCount
  }

  /// The lowest index whose text this device can compute: 0, unless the view
  /// was fast-forwarded (a late join), then the newest local snapshot's.
  async first(): Promise<number> {
    const view = this.doc.autobase.view
    const updates = view.updates
    if (updates.length === 0 || (await updates.has(0, updates.length))) return 0
    for (let j = view.snapshots.length - 1; j >= 0; j--) {
      const block = await view.snapshots.get(j, { wait: false })
      if (block === null) continue
      const base = decodeSnapshotEntry(block).updates
      if (base >= updates.length || (await updates.has(base, updates.length))) return Math.min(base, updates.length)
    }
    return updates.length
  }

  /// Up to MAX_TIMELINE_POINTS points from `first` to now, evenly sampled,
  /// always including the newest.
  async timeline(): Promise<{ count: number; first: number; points: TimelinePoint[] }> {
    const count = this.count
    const first = await this.first()
    const core = this.doc.autobase.view.updates
    const span = count - first
    const indices: number[] = []
    if (span <= MAX_TIMELINE_POINTS) for (let i = first; i < count; i++) indices.push(i)
    else {
      const step = span / MAX_TIMELINE_POINTS
      for (let k = 1; k <= MAX_TIMELINE_POINTS; k++) indices.push(first + Math.ceil(k * step) - 1)
    }
    const points: TimelinePoint[] = []
    for (const i of indices) {
      const block = await core.get(i, { wait: false })
      if (block === null) continue
      const e = decodeUpdateEntry(block)
      points.push({ index: i + 1, member: e.member, time: e.time })
    }
    return { count, first, points }
  }

  /// The text after the first `index` updates, and its blame runs when asked
  /// (`clientToMember` maps Yjs clientIDs to member numbers).
  async textAt(index: number, clientToMember: ReadonlyMap<number, number> | null): Promise<{ text: string; blame: BlameRun[] | null }> {
    const count = this.count
    if (!Number.isInteger(index) || index < 0 || index > count) {
      throw new SwarmpadError('BAD_ARGUMENT', `history index ${index} is not between 0 and ${count}`)
    }
    const ydoc = await this.fold(index)
    const ytext = ydoc.getText(TEXT_ROOT)
    return { text: ytext.toString(), blame: clientToMember === null ? null : blameOf(ytext, clientToMember) }
  }

  private async fold(index: number): Promise<Y.Doc> {
    const view = this.doc.autobase.view
    let start = 0
    let ydoc: Y.Doc | null = null
    if (this.cache !== null && this.cache.index <= index && index - this.cache.index <= SNAPSHOT_INTERVAL * 2) {
      ydoc = this.cache.ydoc
      start = this.cache.index
    } else {
      this.cache?.ydoc.destroy()
      this.cache = null
      ydoc = new Y.Doc({ gc: true })
      // The newest snapshot at or below index that this device holds.
      for (let j = Math.floor(index / SNAPSHOT_INTERVAL) - 1; j >= 0; j--) {
        if (j >= view.snapshots.length) continue
        const block = await view.snapshots.get(j, { wait: false })
        if (block === null) continue
        const snap = decodeSnapshotEntry(block)
        if (snap.updates > index) continue
        Y.applyUpdate(ydoc, snap.state)
        start = snap.updates
        break
      }
    }
    const parts: Uint8Array[] = []
    for (let i = start; i < index; i++) {
      const block = await view.updates.get(i, { wait: false })
      if (block === null) {
        ydoc.destroy()
        if (this.cache?.ydoc === ydoc) this.cache = null
        throw new SwarmpadError('BAD_ARGUMENT', `the history before update ${i + 1} is not stored on this device (it joined later)`)
      }
      parts.push(decodeUpdateEntry(block).yjs)
    }
    if (parts.length > 0) {
      ydoc.transact(() => {
        for (const p of parts) Y.applyUpdate(ydoc!, p)
      })
    }
    this.cache = { index, ydoc }
    return ydoc
  }
}

/// [from, to, member] runs of the visible text of `ytext`.
export function blameOf(ytext: Y.Text, clientToMember: ReadonlyMap<number, number>): BlameRun[] {
  const runs: BlameRun[] = []
  let pos = 0
  for (let item = ytext._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    const len = item.length
    const member = clientToMember.get(item.id.client) ?? -1
    const last = runs[runs.length - 1]
    if (last !== undefined && last[2] === member && last[1] === pos) last[1] = pos + len
    else runs.push([pos, pos + len, member])
    pos += len
  }
  return runs
}
