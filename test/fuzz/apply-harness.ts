// apply() without Autobase (the fake views and host of
// test/helpers/fake-autobase.ts), plus what the linearizer fuzz needs: applying a
// sequence of orders with Autobase's reorder semantics (truncate the views to
// a batch boundary at or before the first difference, restore the host, apply
// the rest) and comparing the results.
import * as Y from 'yjs'
import b4a from 'b4a'
import type { AutobaseNode } from 'autobase'
import { FakeHost, hex, newView, VIEWS, type HostState } from '../helpers/fake-autobase.js'
export { FakeCore, FakeHost, newView, VIEWS, type FakeView, type HostState } from '../helpers/fake-autobase.js'
import { createApply, entryFormat, type DocumentView } from '../../src/sync/view.js'
import type { ApplyLimits } from '../../src/sync/limits-check.js'
import { decodeMembership } from '../../src/doc/membership.js'
import { decodeRejectionEntry, decodeSnapshotEntry, decodeUpdateEntry } from '../../src/doc/entries.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'

/// One peer applying orders of nodes as Autobase would: each new order is
/// applied from the last batch boundary at or before its first difference
/// with what was applied (the views are truncated there and the host
/// restored), in batches whose sizes `cut` picks.
export class ApplyPeer {
  readonly view = newView()
  readonly host: FakeHost
  private readonly apply: ReturnType<typeof createApply>
  /// Node ids applied, in order.
  private applied: string[] = []
  /// After each batch: how many nodes were applied, the view lengths, the host.
  private boundaries: Array<{ at: number; lengths: number[]; host: HostState }> = []
  truncations = 0
  batches = 0
  reapplied = 0

  /// `limits`: apply()'s document-dependent limits (small ones make a fuzz
  /// run reach them; every peer compared must use the same).
  /// `word` rewords every refusal (a build that words reasons differently).
  constructor(readonly creator: Uint8Array, limits: Partial<ApplyLimits> = {}, word?: (w: string) => string) {
    this.host = new FakeHost(creator)
    this.apply = createApply(() => creator, word ? { limits, word } : { limits })
    this.mark()
  }

  private mark(): void {
    this.boundaries.push({ at: this.applied.length, lengths: VIEWS.map((n) => this.view[n].length), host: this.host.save() })
  }

  /// Make the applied order `order` (ids, with their nodes in `nodes`).
  async applyOrder(order: readonly string[], nodes: ReadonlyMap<string, AutobaseNode>, cut: () => number): Promise<void> {
    let common = 0
    while (common < order.length && common < this.applied.length && order[common] === this.applied[common]) common++
    if (common < this.applied.length) {
      // A reorder: back to the last boundary at or before the divergence.
      let b = this.boundaries.length - 1
      while (this.boundaries[b]!.at > common) b--
      const boundary = this.boundaries[b]!
      for (const [k, name] of VIEWS.entries()) await this.view[name].truncate(boundary.lengths[k]!)
      this.host.restore(boundary.host)
      this.boundaries.length = b + 1
      this.reapplied += this.applied.length - boundary.at
      this.applied.length = boundary.at
      this.truncations++
    }
    let i = this.applied.length
    while (i < order.length) {
      const size = Math.max(1, Math.min(order.length - i, cut()))
      const batch = order.slice(i, i + size)
      await this.apply(batch.map((id) => nodes.get(id)!), this.view as unknown as DocumentView, this.host)
      this.batches++
      if (this.host.interrupts.length > 0) throw new Error(`apply() interrupted: ${String(this.host.interrupts[0])}`)
      this.applied.push(...batch)
      i += size
      this.mark()
    }
  }
}

/// Everything a peer derived, in comparable form.
export interface Outcome {
  text: string
  stateVector: string
  /// The last membership record, re-encoded as JSON (keys hex).
  membership: string
  /// Rejections as `writer#seq: reason`, in view order.
  rejections: string[]
  writers: string[]
  indexers: string[]
  /// The views' blocks, hex, for byte-for-byte comparison.
  bytes: Record<string, string[]>
}

export function outcome(peer: ApplyPeer): Outcome {
  const v = peer.view
  const entries = v.updates.blocks.map((b) => decodeUpdateEntry(b).yjs)
  const doc = new Y.Doc()
  // Entry by entry, as a live document folds them.
  for (const u of entries) Y.applyUpdate(doc, u)
  const last = v.members.blocks[v.members.length - 1]
  const m = last ? decodeMembership(last) : null
  const membership = m === null ? 'genesis' : JSON.stringify(m, (_k, val: unknown) => (val instanceof Uint8Array ? hex(val) : val))
  const format = entryFormat(v, m)
  const rejections = v.rejections.blocks.map((b) => {
    const r = decodeRejectionEntry(b, format)
    return `${hex(r.writer).slice(0, 8)}#${r.seq}: ${r.reason}`
  })
  const bytes: Record<string, string[]> = {}
  for (const name of VIEWS) bytes[name] = v[name].blocks.map((b) => b.toString('hex'))
  // A snapshot, where there is one, folds to the same text.
  if (v.snapshots.length > 0) {
    const snap = decodeSnapshotEntry(v.snapshots.blocks[v.snapshots.length - 1]!)
    const again = new Y.Doc()
    Y.applyUpdate(again, Y.mergeUpdates([snap.state, ...entries.slice(snap.updates)]))
    if (again.getText(TEXT_ROOT).toString() !== doc.getText(TEXT_ROOT).toString()) throw new Error('the newest snapshot folds to another text')
  }
  return {
    text: doc.getText(TEXT_ROOT).toString(),
    stateVector: b4a.toString(Y.encodeStateVector(doc), 'hex'),
    membership,
    rejections,
    writers: [...peer.host.writers].sort(),
    indexers: [...peer.host.indexers].sort(),
    bytes
  }
}
