import * as Y from 'yjs'
import { BLOCK_VERSION, encodeBlock, updateBlock, type FormatVersion } from '../doc/blocks.js'
import { MAX_UPDATE_BYTES } from '../limits.js'
import { SwarmpadError } from '../errors.js'

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

/// Local updates merged together, with everyone waiting for them.
interface Chunk {
  update: Uint8Array
  /// How many local updates this chunk holds.
  count: number
  waiters: Waiter[]
}

/// Turns local Yjs updates into blocks with at most one append in flight.
///
/// An awaited Autobase append costs milliseconds while a keystroke costs
/// microseconds, so updates that arrive while an append is in flight are
/// merged into the next block, up to MAX_UPDATE_BYTES. Merging is done as a
/// binary counter (two chunks of equal count merge into one), because
/// Y.mergeUpdates of many updates at once costs quadratic time while merging
/// two costs linear time: n updates cost O(n log n) in all. Each update gets a
/// promise that resolves when the block holding it is durable in this
/// device's log. A failed append (a full disk) is retried with backoff: the
/// edit stays "unsaved" rather than lost.
export class AppendQueue {
  private pending: Chunk[] = []
  private inFlight: Chunk[] = []
  private running = false
  private stopped = false
  private retryDelay = 0
  private retryTimer: NodeJS.Timeout | null = null
  private last: Promise<void> = Promise.resolve()
  /// Blocks appended so far, and the local updates they carried.
  blocks = 0
  updates = 0

  /// `append` writes a block and resolves with what the log returns (for
  /// Autobase: the local log length after it); `onDurable` gets each saved
  /// update with that result. When `permanent(err)` returns an error for a
  /// failed append, retrying cannot help (this device may not write any
  /// more): the batch is rejected with it instead of retried.
  constructor(
    private readonly append: (block: Uint8Array) => Promise<unknown>,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly onDurable: (yjs: Uint8Array, appended: unknown) => void = () => {},
    private readonly now: () => number = Date.now,
    private readonly permanent: (err: unknown) => Error | null = () => null,
    /// The format of the document's blocks (a v1 document stays v1).
    private readonly format: () => FormatVersion = () => BLOCK_VERSION,
    /// Makes appended blocks durable against a power cut (see
    /// storage/log-sync.ts); waiters resolve after it. It must not throw.
    private readonly sync: () => Promise<void> = () => Promise.resolve()
  ) {}

  /// Updates not yet durable (including those being appended), oldest first.
  get unsaved(): Uint8Array[] {
    return [...this.inFlight, ...this.pending].map((c) => c.update)
  }

  /// True when every pushed update is durable.
  get idle(): boolean {
    return this.pending.length === 0 && this.inFlight.length === 0
  }

  push(update: Uint8Array): Promise<void> {
    if (this.stopped) return Promise.reject(new SwarmpadError('CLOSED', 'document is closed'))
    const promise = new Promise<void>((resolve, reject) => {
      this.pending.push({ update, count: 1, waiters: [{ resolve, reject }] })
    })
    this.last = promise
    this.compact()
    if (!this.running && this.retryTimer === null) void this.run()
    return promise
  }

  /// Wait until everything pushed so far is durable (or has failed for good).
  async flush(): Promise<void> {
    await this.last.catch(() => {})
  }

  /// Stop: pending updates are rejected with CLOSED (they stay in the local
  /// Y.Doc but were never saved; callers see the rejection); an append in
  /// flight that then fails is rejected with SAVE_UNCERTAIN.
  stop(): void {
    this.stopped = true
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    if (this.running) return // run() rejects what is left when the append settles
    this.rejectAll()
  }

  /// Give up on every update not yet being appended (rejecting each with
  /// `err`), e.g. when this device was removed from the document.
  discard(err: Error): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer)
      this.retryTimer = null
    }
    for (const c of this.pending.splice(0)) for (const w of c.waiters) w.reject(err)
  }

  private rejectAll(): void {
    const err = new SwarmpadError('CLOSED', 'document closed before the edit was saved')
    for (const c of this.pending.splice(0)) for (const w of c.waiters) w.reject(err)
  }

  /// Merge the newest chunks while the last two hold equally many updates.
  private compact(): void {
    while (this.pending.length >= 2) {
      const b = this.pending[this.pending.length - 1]!
      const a = this.pending[this.pending.length - 2]!
      if (a.count > b.count || a.update.length + b.update.length > MAX_UPDATE_BYTES / 2) return
      this.pending.pop()
      a.update = Y.mergeUpdates([a.update, b.update])
      a.count += b.count
      for (const w of b.waiters) a.waiters.push(w)
    }
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.pending.length > 0 && !this.stopped) {
        const batch = this.takeBatch()
        const yjs = batch.length === 1 ? batch[0]!.update : Y.mergeUpdates(batch.map((c) => c.update))
        let block: Uint8Array
        try {
          block = encodeBlock(updateBlock(yjs, this.now()), this.format())
        } catch (err) {
          // Too large to ever be accepted: retrying cannot help.
          const tooLarge = new SwarmpadError('TOO_LARGE', err instanceof Error ? err.message : String(err))
          for (const c of batch) for (const w of c.waiters) w.reject(tooLarge)
          continue
        }
        this.inFlight = batch
        let appended: unknown
        try {
          appended = await this.append(block)
        } catch (err) {
          this.inFlight = []
          const fatal = this.permanent(err)
          if (fatal !== null) {
            for (const c of batch) for (const w of c.waiters) w.reject(fatal)
            continue
          }
          if (this.stopped) {
            // Closed while this block was being appended: Autobase may still
            // have written it while closing (its append rejects on close
            // either way), so the edit may be in the log; "not saved" could be
            // wrong (a partition-chaos run saw such edits appear after the
            // restart). Say so; the next open shows it if it was saved.
            const uncertain = new SwarmpadError('SAVE_UNCERTAIN', 'the document closed while the edit was being saved: it shows after the next open if the save finished')
            for (const c of batch) for (const w of c.waiters) w.reject(uncertain)
            break
          }
          this.pending.unshift(...batch)
          this.onError(err)
          this.retryDelay = Math.min(5000, this.retryDelay === 0 ? 50 : this.retryDelay * 2)
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null
            void this.run()
          }, this.retryDelay)
          return
        }
        this.inFlight = []
        this.retryDelay = 0
        this.onDurable(yjs, appended)
        await this.sync()
        this.blocks++
        for (const c of batch) {
          this.updates += c.count
          for (const w of c.waiters) w.resolve()
        }
      }
    } finally {
      this.running = false
      if (this.stopped) this.rejectAll()
    }
  }

  /// The oldest chunks whose merge stays within MAX_UPDATE_BYTES (at least one).
  private takeBatch(): Chunk[] {
    let bytes = 0
    let n = 0
    while (n < this.pending.length) {
      const size = this.pending[n]!.update.length
      if (n > 0 && bytes + size > MAX_UPDATE_BYTES) break
      bytes += size
      n++
    }
    return this.pending.splice(0, n)
  }
}
