import * as Y from 'yjs'
import { encodeBlock } from '../doc/blocks.js'
import { MAX_UPDATE_BYTES } from '../limits.js'
import { SwarmpadError } from '../errors.js'

interface Pending {
  update: Uint8Array
  resolve: () => void
  reject: (err: Error) => void
}

/// Turns local Yjs updates into blocks with at most one append in flight.
///
/// An awaited Autobase append costs milliseconds while a keystroke costs
/// microseconds, so updates that arrive while an append is in flight are
/// merged (Y.mergeUpdates) into the next block, up to MAX_UPDATE_BYTES. Each
/// update gets a promise that resolves when the block holding it is durable in
/// this device's log. A failed append (a full disk) is retried with backoff:
/// the edit stays "unsaved" rather than lost.
export class AppendQueue {
  private pending: Pending[] = []
  private inFlight: Pending[] = []
  private running = false
  private stopped = false
  private retryDelay = 0
  private retryTimer: NodeJS.Timeout | null = null
  private last: Promise<void> = Promise.resolve()
  /// Blocks appended so far, and updates they carried (for stats and tests).
  blocks = 0
  updates = 0

  constructor(
    private readonly append: (block: Uint8Array) => Promise<unknown>,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly onDurable: (yjs: Uint8Array) => void = () => {},
    private readonly now: () => number = Date.now
  ) {}

  /// Updates not yet durable (including those being appended), oldest first.
  get unsaved(): Uint8Array[] {
    return [...this.inFlight, ...this.pending].map((p) => p.update)
  }

  /// True when every pushed update is durable.
  get idle(): boolean {
    return this.pending.length === 0
  }

  push(update: Uint8Array): Promise<void> {
    if (this.stopped) return Promise.reject(new SwarmpadError('CLOSED', 'document is closed'))
    const promise = new Promise<void>((resolve, reject) => {
      this.pending.push({ update, resolve, reject })
    })
    this.last = promise
    if (!this.running && this.retryTimer === null) void this.run()
    return promise
  }

  /// Wait until everything pushed so far is durable (or has failed for good).
  async flush(): Promise<void> {
    await this.last.catch(() => {})
  }

  /// Stop: pending updates are rejected with CLOSED (they stay in the local
  /// Y.Doc but were never saved; callers see the rejection).
  stop(): void {
    this.stopped = true
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    if (this.running) return // run() rejects what is left when the append settles
    this.rejectAll()
  }

  private rejectAll(): void {
    const err = new SwarmpadError('CLOSED', 'document closed before the edit was saved')
    for (const p of this.pending.splice(0)) p.reject(err)
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.pending.length > 0 && !this.stopped) {
        const batch = this.takeBatch()
        const yjs = batch.length === 1 ? batch[0]!.update : Y.mergeUpdates(batch.map((p) => p.update))
        let block: Uint8Array
        try {
          block = encodeBlock({ kind: 'update', time: this.now(), yjs })
        } catch (err) {
          // Too large to ever be accepted: retrying cannot help.
          const tooLarge = new SwarmpadError('TOO_LARGE', err instanceof Error ? err.message : String(err))
          for (const p of batch) p.reject(tooLarge)
          continue
        }
        this.inFlight = batch
        try {
          await this.append(block)
        } catch (err) {
          this.inFlight = []
          if (this.stopped) {
            this.pending.unshift(...batch)
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
        this.onDurable(yjs)
        this.blocks++
        this.updates += batch.length
        for (const p of batch) p.resolve()
      }
    } finally {
      this.running = false
      if (this.stopped) this.rejectAll()
    }
  }

  /// The oldest updates whose merge stays within MAX_UPDATE_BYTES (at least one).
  private takeBatch(): Pending[] {
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
