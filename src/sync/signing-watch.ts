import type Autobase from 'autobase'

/// How long the signed length may stand still, with entries waiting to be
/// signed, before an indexer adds an ack of its own (jittered up to 2x so two
/// indexers rarely nudge at the same moment).
export const SIGNING_STALL_MS = 3000

/// Keeps signing going when Autobase's own acks stop.
///
/// Autobase acks in the background only when its linearizer says an ack
/// would bring a value closer to being signed. With one of three indexers
/// gone for good, the two left can each be a head of the DAG, neither seeing
/// the other's last block, and both decide not to ack: the document keeps
/// working but nothing new is signed (found by the owner-device test, about
/// one run in five under load). An ack from either merges the heads and the
/// normal cycle resumes, so this watch appends one ack when the signed length
/// has not moved for SIGNING_STALL_MS while another indexer's block is a
/// head. It does nothing while signing progresses, on a device that is not an
/// indexer, when no other indexer is writing (acks cannot help then), or with
/// background acks off.
export class SigningWatch {
  private timer: NodeJS.Timeout | null = null
  private lastSigned = -1
  private nudging = false

  constructor(
    private readonly base: Autobase<unknown>,
    private readonly stallMs = SIGNING_STALL_MS,
    private readonly onError: (err: unknown) => void = () => {}
  ) {}

  /// Acks appended by this watch.
  nudges = 0

  start(): void {
    if (this.timer !== null) return
    this.schedule()
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.check(), this.stallMs * (1 + Math.random()))
    this.timer.unref()
  }

  /// Some head of the DAG is another indexer's block that this device has
  /// not acked. Only then can an ack help: with no other indexer writing
  /// (the rest are gone), signing needs them back, and acking alone would
  /// only grow the log.
  private otherIndexerIsHead(): boolean {
    const local = this.base.local.key
    const indexers = this.base.system.indexers
    return this.base.heads().some((head) => !head.key.equals(local) && indexers.some((i) => i.key.equals(head.key)))
  }

  private async check(): Promise<void> {
    const base = this.base
    if (this.timer === null || base.closed) return
    const stalled = base.signedLength < base.length && base.signedLength === this.lastSigned
    this.lastSigned = base.signedLength
    if (stalled && !this.nudging && base.writable && base.isIndexer && this.otherIndexerIsHead()) {
      this.nudging = true
      try {
        await base.append(null)
        this.nudges++
      } catch (err) {
        if (!base.closed) this.onError(err)
      } finally {
        this.nudging = false
      }
    }
    if (this.timer !== null) this.schedule()
  }
}
