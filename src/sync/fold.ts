import b4a from 'b4a'
import { textOf } from '../doc/text-pairs.js'
import { SwarmpadError } from '../errors.js'
import { decodeRejectionEntry, decodeUpdateEntry } from '../doc/entries.js'
import { changeSetOf, diffChanges } from '../doc/changes.js'
import { findMember, type Membership } from '../doc/membership.js'
import type { FormatVersion, Key } from '../doc/blocks.js'
import { SNAPSHOT_INTERVAL } from '../limits.js'
import type { AppendQueue } from './append-queue.js'
import type { DocumentView } from './view.js'
import { allStillThere, collectParts, entryId, takeNew } from './fold-parts.js'
import { OwnUpdates } from './own-updates.js'
import { applyParts, integrate, newYDoc, type Replica } from './replica.js'
import type { TextHistory } from './text-history.js'
import { newestSnapshot, readBlocks, readEntries, readSelf, removedForGood } from './view-read.js'

/// What the fold needs of its document.
export interface FoldHost {
  /// The Autobase's view as it shows now.
  readonly view: DocumentView
  /// The document key (the creator's writer key) and this device's writer key.
  readonly creator: Key
  readonly local: Key
  /// The format of the document's blocks.
  readonly format: FormatVersion
  /// True once the document began to close.
  readonly closing: boolean
  isOpen(): boolean
  /// Let the Autobase finish the drain in progress (base.update()).
  update(): Promise<void>
  membership(): Promise<Membership>
  invalidateMembership(): void
  /// Put queued local edits into the Y.Doc.
  flushLocal(): void
  readonly queue: Pick<AppendQueue, 'unsaved' | 'idle' | 'discard'>
  readonly replica: Replica
  readonly history: TextHistory
  /// A fold failed (emitted as the document's `error`).
  error(err: unknown): void
  /// New entries were folded in (a checkpoint may be due).
  foldedNew(): void
}

/// Brings the Y.Doc up to the view, outside apply(): folds new update
/// entries in, and rebuilds it from the newest snapshot when an entry it had
/// folded left the view or an update of this device must leave it. Every
/// fold and rebuild runs in turn (serial()).
export class ViewFold {
  /// Update entries folded into the Y.Doc so far, and the identities
  /// (member:seq) of the recent ones, to detect an entry leaving the view.
  folded = 0
  ids: string[] = []
  idsStart = 0
  /// Lowest view length a truncation left since the last fold (Infinity: none).
  truncatedTo = Infinity
  folding: Promise<void> = Promise.resolve()
  scheduled = false
  /// The text was loaded at open: folds may run.
  loaded = false
  /// The append queue gave up on local updates (see the queue's `permanent`).
  droppedLocal = false
  readonly own = new OwnUpdates()

  constructor(private readonly host: FoldHost) {}

  /// The Autobase update hook saw the `updates` view cut back to `shared`.
  truncated(shared: number): void {
    this.truncatedTo = Math.min(this.truncatedTo, shared)
  }

  /// The append queue dropped local updates for good: their text must
  /// leave the Y.Doc too (a rebuild).
  dropLocal(): void {
    this.droppedLocal = true
    this.schedule()
  }

  pending(): boolean {
    return this.loaded && (this.truncatedTo !== Infinity || this.droppedLocal || this.folded !== this.host.view.updates.length)
  }

  /// Resolves once every view entry seen so far is folded into the text.
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && (this.scheduled || this.pending()); i++) {
      this.schedule()
      await this.folding
    }
  }

  schedule(): void {
    if (this.scheduled || this.host.closing) return
    this.scheduled = true
    void this.serial(async () => {
      this.scheduled = false
      // Let the base finish the drain in progress first: a fold that read
      // `base.view` before a reorder showed would mark reordered entries
      // folded and lose them.
      if (!this.host.closing) await this.host.update().catch(() => {})
      await this.fold()
    })
  }

  /// Run `task` after every fold, rebuild and task before it.
  serial(task: () => Promise<void>): Promise<void> {
    const run = this.folding.then(task, task)
    this.folding = run.catch((err) => {
      if (!this.host.closing) this.host.error(err)
    })
    return run
  }

  /// Bring the Y.Doc up to the view: fold new entries, or rebuild when an
  /// entry that was folded has left the view.
  private async fold(): Promise<void> {
    if (this.host.closing || !this.host.isOpen()) return
    const core = this.host.view.updates
    if (this.truncatedTo !== Infinity) {
      const from = Math.min(this.truncatedTo, this.folded)
      this.truncatedTo = Infinity
      if (from < this.folded) {
        if (from < this.idsStart || !(await this.stillInView(from))) {
          await this.rebuild(true)
          return
        }
        // Every folded entry is still there: the rest is new or a repeat, and
        // Yjs ignores repeats.
        this.folded = from
        this.ids.length = from - this.idsStart
        for (const [seq, index] of this.own.index) if (index >= from) this.own.index.delete(seq)
      }
    }
    if ((await this.settleOwn()) || this.droppedLocal) {
      await this.rebuild(true)
      return
    }
    const end = core.length
    if (end <= this.folded) {
      if (this.settleSigned()) await this.rebuild(true)
      return
    }
    // Far behind (after a fast-forward, or a long time offline): a snapshot
    // lies within the gap, so rebuild from the newest one and the entries
    // after it instead of fetching every entry (a fast-forwarded view is sparse).
    // A device that just joined starts there too (v2 writes snapshots by size).
    if (this.host.view.snapshots.length > 0 && (end - this.folded > SNAPSHOT_INTERVAL || this.folded === 0)) {
      await this.rebuild(true)
      return
    }
    const blocks = await readBlocks(core, this.folded, end)
    const updates = takeNew(blocks, this.folded, this.own, this.ids)
    this.folded = end
    this.pruneIds()
    if (updates.length > 0) this.applyRemote(updates)
    if (this.settleSigned()) await this.rebuild(true)
    this.host.foldedNew()
  }

  /// Integrate remote updates into the Y.Doc and emit the change.
  applyRemote(updates: Uint8Array[]): void {
    this.host.flushLocal()
    integrate(this.host.replica, this.host.history, updates)
  }

  /// Check the view for the fate of this device's pending updates. Returns
  /// true when some must leave the Y.Doc (a rebuild is needed): one was
  /// rejected, or this device is no longer a member.
  private async settleOwn(): Promise<boolean> {
    let drop = false
    const own = this.own
    const rejections = this.host.view.rejections
    if (rejections.length < own.rejectionsSeen) own.rejectionsSeen = rejections.length
    // Only signed rejections are final: an unsigned one may be undone by a
    // reorder (and the update accepted after all), so the update stays in the
    // Y.Doc until then (dropping it and writing its Yjs clocks again would
    // make every later edit of this device refused).
    const end = Math.min(rejections.length, rejections.signedLength ?? 0)
    for (let i = own.rejectionsSeen; i < end; i++) {
      const block = await rejections.get(i, { wait: false })
      if (block === null) continue
      const r = decodeRejectionEntry(block, this.host.format)
      if (own.pending.has(r.seq) && b4a.equals(r.writer, this.host.local)) {
        own.pending.delete(r.seq)
        drop = true
      }
    }
    own.rejectionsSeen = Math.max(own.rejectionsSeen, end)
    const me = findMember(await this.host.membership(), this.host.local)
    if (me !== undefined) own.member = me.n
    if (removedForGood(me, this.host.view) && (own.pending.size > 0 || !this.host.queue.idle)) {
      this.dropOwn()
      drop = true
    }
    return drop
  }

  /// This device was removed: what it wrote that the view does not hold
  /// will never be accepted. Forget it, and refuse what is still queued.
  dropOwn(): void {
    this.own.clear()
    this.host.queue.discard(new SwarmpadError('NOT_WRITABLE', 'this device was removed from the document; the edit was not saved'))
  }

  /// Forget own updates whose fate is final (see OwnUpdates.settleSigned());
  /// true when one must leave the Y.Doc.
  private settleSigned(): boolean {
    return this.own.settleSigned(this.host.view.updates.signedLength ?? 0)
  }

  /// Whether every entry folded at or after `from` is still in the view.
  private async stillInView(from: number): Promise<boolean> {
    const core = this.host.view.updates
    const present = new Set<string>()
    const blocks = await readBlocks(core, from, core.length)
    for (const block of blocks) {
      if (!block) return false
      present.add(entryId(decodeUpdateEntry(block)))
    }
    return allStillThere(present, this.ids, this.idsStart, from, this.folded)
  }

  /// Entries below the signed length never reorder: forget their identities.
  private pruneIds(): void {
    const signed = Math.min(this.host.view.updates.signedLength ?? 0, this.folded)
    if (signed > this.idsStart) {
      this.ids.splice(0, signed - this.idsStart)
      this.idsStart = signed
    }
  }

  /// The Y.Doc now holds the view's entries up to `end`, the last ones with
  /// identities `ids` from `idsStart` on; ours are at `seen` (log position
  /// -> view index) and this device is member `self`.
  adopt(state: { end: number; ids: string[]; idsStart: number; seen: Map<number, number>; self: number }): void {
    this.own.index = state.seen
    this.own.member = state.self
    this.folded = state.end
    this.ids = state.ids
    this.idsStart = state.idsStart
  }

  /// Build the Y.Doc from the newest snapshot and the updates after it, then
  /// re-apply local edits that are not durable yet. With `announce`, the
  /// difference to the old text is emitted as a remote change.
  async rebuild(announce: boolean): Promise<void> {
    const host = this.host
    const view = host.view
    const doc = newYDoc()
    const snap = await newestSnapshot(view)
    if (snap === 'unavailable') throw new Error('snapshot unavailable')
    const from = snap === 'none' ? 0 : snap.updates
    const end = view.updates.length
    const self = await readSelf(view, host.creator, host.local)
    const selfN = self?.n ?? -1
    const read = await readEntries(view.updates, from, end)
    if (read.missing !== null) throw new Error(`update ${read.missing} unavailable`)
    const { parts, ids, seen } = collectParts(snap === 'none' ? null : snap.state, from, read.entries, selfN)
    // No awaits from here on: local edits cannot slip between reading what
    // this device wrote and swapping the Y.Doc. Own updates that are not
    // settled go back in (those the view holds are repeats to Yjs; those a
    // reorder took out of it must stay: they will be back).
    this.own.index = seen
    this.settleSigned()
    if (removedForGood(self, view)) this.dropOwn()
    host.flushLocal()
    this.droppedLocal = false
    parts.push(...this.own.pending.values(), ...host.queue.unsaved)
    applyParts(doc, parts)
    const old = host.replica.doc
    host.replica.set(doc)
    host.replica.keepClientId()
    this.adopt({ end, ids, idsStart: from, seen, self: selfN })
    host.invalidateMembership()
    if (old !== doc) old.destroy()

    const history = host.history
    const next = host.replica.ytext.toString()
    if (!announce) {
      history.reset(textOf(next))
      return
    }
    const cs = changeSetOf(diffChanges(history.text.toString(), next), history.text.length)
    if (!cs.empty) history.advance(cs, 'remote')
  }
}
