/// This device's own updates while their fate in the view is open. Pure
/// bookkeeping (no Yjs, no disk): SwarmDocument's fold decides from it what
/// to skip, what to re-apply after a rebuild and when a rebuild is needed.
export class OwnUpdates {
  /// This device's updates that are durable in its log and not settled yet,
  /// by log position. The Y.Doc always holds them, so folding skips them and
  /// a rebuild re-applies them (Yjs ignores the ones the view holds too): an
  /// accepted update that a reorder takes out of the view for a while stays
  /// in the Y.Doc, so this device never writes its Yjs clocks twice. They
  /// leave once settled: accepted below the view's signed length, rejected,
  /// skipped by Autobase (a later one of ours is signed without them), or
  /// when this device is removed (they can then never be accepted): a
  /// rejected edit does not stay on this device alone.
  pending = new Map<number, Uint8Array>()
  /// Where this device's updates are in the `updates` view now (log position
  /// -> view index), until they are below its signed length.
  index = new Map<number, number>()
  /// This device's member number in the view (-1: not known, or not a member).
  member = -1
  /// Rejections already checked for this device's blocks.
  rejectionsSeen = 0
  private unknownSeq = 0

  /// An update of ours is durable: `length` is what Autobase's append
  /// resolved with, the local log length after the block.
  durable(yjs: Uint8Array, length: unknown): void {
    this.pending.set(typeof length === 'number' ? length - 1 : -++this.unknownSeq, yjs)
  }

  /// Forget every own update (this device was removed).
  clear(): void {
    this.pending.clear()
    this.index.clear()
  }

  /// Forget own updates whose fate is final. Ours below the signed length of
  /// the view never move again. Autobase linearizes our log in order, so once
  /// one of ours is signed, an earlier one that is not in the view never will
  /// be (it was rejected, or skipped: this device was removed meanwhile and
  /// added back, and Autobase resumed after it): returns true when such an
  /// update is in the Y.Doc and must leave it (a rebuild).
  settleSigned(signed: number): boolean {
    let last = -1
    for (const [seq, index] of this.index) {
      if (index >= signed) continue
      last = Math.max(last, seq)
      this.index.delete(seq)
      this.pending.delete(seq)
    }
    let skipped = false
    if (last < 0) return false
    for (const seq of this.pending.keys()) {
      if (seq >= 0 && seq < last && !this.index.has(seq)) {
        this.pending.delete(seq)
        skipped = true
      }
    }
    return skipped
  }
}
