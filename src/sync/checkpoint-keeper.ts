import * as Y from 'yjs'
import { textOf } from '../doc/text-pairs.js'
import type { Key } from '../doc/blocks.js'
import { SNAPSHOT_INTERVAL } from '../limits.js'
import { openCheckpoint, sealCheckpoint, type Checkpoint, type CheckpointStore } from './checkpoint.js'
import { checkpointPlan, checkpointTail } from './fold-parts.js'
import type { ViewFold } from './fold.js'
import { applyParts, newYDoc, REMOTE, type Replica } from './replica.js'
import type { TextHistory } from './text-history.js'
import type { DocumentView } from './view.js'
import { readEntries, readSelf, removedForGood } from './view-read.js'

/// A checkpoint is also written after this many entries were folded since
/// the last one (when the document is quiet for CHECKPOINT_IDLE_MS), so a
/// crash does not leave a long tail to fold at the next open.
const CHECKPOINT_EVERY = 4 * SNAPSHOT_INTERVAL
const CHECKPOINT_IDLE_MS = 5000

/// What the checkpoints of a document need of it.
export interface CheckpointHost {
  /// Where the checkpoint is kept (none: no checkpoints).
  readonly store: CheckpointStore | undefined
  readonly encryptionKey: Uint8Array
  readonly view: DocumentView
  /// The document key (the creator's writer key) and this device's writer key.
  readonly creator: Key
  readonly local: Key
  readonly fold: ViewFold
  readonly replica: Replica
  readonly history: TextHistory
  isOpen(): boolean
  /// Whether local edits wait for their Yjs transaction.
  localPending(): boolean
  /// Whether every local update is durable.
  queueIdle(): boolean
  invalidateMembership(): void
  warn(err: unknown): void
}

/// This device's local checkpoint of a document's Y.Doc: read at open (so
/// reopening loads one compact state instead of a snapshot plus the updates
/// after it), written at close and after many folded entries.
export class CheckpointKeeper {
  /// `fold.folded` when the last checkpoint was written (or loaded).
  private checkpointedAt = 0
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly host: CheckpointHost) {}

  /// Read, decrypt and load the checkpoint into a fresh Y.Doc (null when
  /// there is none or it does not open).
  async preload(key: Key): Promise<Checkpoint | null> {
    const store = this.host.store
    if (!store) return null
    const bytes = await store.load().catch(() => null)
    if (bytes === null) return null
    const checkpoint = openCheckpoint(bytes, this.host.encryptionKey, key)
    if (checkpoint === null) this.host.warn(new Error('ignored a damaged or foreign checkpoint; rebuilt from the log'))
    return checkpoint
  }

  /// Adopt a checkpoint if the view still holds everything it was made
  /// from; fold the view's entries from its signed length on top. When the
  /// view holds exactly what the checkpoint does (a reopen with nothing new),
  /// the text is shown at once and Yjs loads the state later (Replica.defer()).
  async use(cp: Checkpoint): Promise<boolean> {
    const { host } = this
    const view = host.view
    const end = view.updates.length
    if (cp.signed > end || cp.signed > (view.updates.signedLength ?? 0)) return false
    const self = await readSelf(view, host.creator, host.local)
    const selfN = self?.n ?? -1
    const read = await readEntries(view.updates, cp.signed, end)
    if (read.missing !== null) return false
    const plan = checkpointPlan(cp, end, read.entries, selfN)
    if (plan === 'stale') {
      host.warn(new Error('the checkpoint holds updates the log no longer has; rebuilt from the log'))
      return false
    }
    const doc = newYDoc()
    const old = host.replica.current
    if (plan.unchanged) {
      host.replica.defer(doc, cp.state, cp.text)
      host.history.reset(textOf(cp.text))
    } else {
      try {
        Y.applyUpdate(doc, cp.state, REMOTE)
      } catch {
        doc.destroy()
        return false
      }
      applyParts(doc, plan.parts)
      host.replica.set(doc)
      host.replica.keepClientId()
      host.history.reset(textOf(host.replica.ytext.toString()))
    }
    if (old !== undefined && old !== doc) old.destroy()
    host.fold.adopt({ end, ids: plan.ids, idsStart: cp.signed, seen: plan.seen, self: selfN })
    if (removedForGood(self, view)) host.fold.dropOwn()
    this.checkpointedAt = end
    host.invalidateMembership()
    return true
  }

  /// Save the Y.Doc as a checkpoint, when it holds exactly what the view
  /// holds (no local edit outside the log, nothing unfolded).
  async write(): Promise<void> {
    const { host } = this
    const fold = host.fold
    const store = host.store
    if (!store || !fold.loaded || !host.isOpen()) return
    const core = host.view.updates
    if (host.localPending() || !host.queueIdle() || fold.droppedLocal || fold.truncatedTo !== Infinity) return
    // Still as loaded from the checkpoint: nothing to write.
    if (host.replica.deferred) return
    if (fold.folded !== core.length) return
    for (const seq of fold.own.pending.keys()) if (!fold.own.index.has(seq)) return
    const named = checkpointTail(fold.folded, fold.ids, fold.idsStart, core.signedLength ?? 0)
    if (named === null) return
    const cp: Checkpoint = { length: fold.folded, signed: named.signed, tail: named.tail, state: Y.encodeStateAsUpdate(host.replica.doc), text: host.history.text.toString() }
    this.checkpointedAt = fold.folded
    await store.save(sealCheckpoint(cp, host.encryptionKey, host.creator))
  }

  /// Write a checkpoint once the document is quiet, when many entries were
  /// folded since the last one.
  schedule(): void {
    if (!this.host.store || this.host.fold.folded - this.checkpointedAt < CHECKPOINT_EVERY) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      void this.host.fold.serial(() => this.write().catch((err) => void this.host.warn(err)))
    }, CHECKPOINT_IDLE_MS)
    this.timer.unref()
  }

  /// Cancel a scheduled write.
  stop(): void {
    if (this.timer) clearTimeout(this.timer)
  }
}
