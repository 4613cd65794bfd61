import type { ChangeSet } from '@codemirror/state'
import { isHighSurrogate, keepPairsWhole, pairProblem } from '../doc/text-pairs.js'
import { SwarmpadError } from '../errors.js'
import { changeSetOf, diffChanges, type TextChange } from '../doc/changes.js'
import { MAX_INSERT_CHUNK, MAX_TEXT_LENGTH } from '../limits.js'
import type { EditResult } from './document-types.js'
import { LOCAL, type Replica } from './replica.js'
import type { TextHistory } from './text-history.js'

/// Local changes waiting for their Yjs transaction. Positions of each step
/// are in the text as it is after the steps before it.
interface LocalBatch {
  steps: Array<{ at: number; del: number; insert: string }>
  inserted: number
  done: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

/// Most edits gathered into one Yjs transaction before it is flushed anyway.
const MAX_BATCH_STEPS = 4096

/// What local edits need of their document.
export interface LocalEditsHost {
  readonly history: TextHistory
  readonly replica: Replica
  /// Whether the document is open (a batch flushed after it closed is refused).
  isOpen(): boolean
  /// Throws unless this device may edit the text now.
  assertWritable(): void
  /// Hand a Yjs update to the append queue; resolves once durable.
  push(update: Uint8Array): Promise<void>
}

/// This device's edits: checked and rebased, shown in the text at once,
/// gathered into Yjs transactions and handed to the append queue.
export class LocalEdits {
  /// Local changes not yet in the Y.Doc (see queue()).
  private batch: LocalBatch | null = null

  constructor(private readonly host: LocalEditsHost) {}

  /// Whether changes wait for their Yjs transaction.
  get pending(): boolean {
    return this.batch !== null
  }

  /// Apply CodeMirror-style changes made against `baseVersion`.
  ///
  /// Changes against an older version are rebased over what happened since
  /// (up to MAX_REBASE_VERSIONS back). The text changes at once; `durable`
  /// resolves when the block holding the edit is in this device's log.
  edit(changes: readonly TextChange[] | ChangeSet, baseVersion: number, tag: unknown): EditResult {
    const history = this.host.history
    this.host.assertWritable()
    const cs = history.rebase(changes, baseVersion)
    // Yjs cannot hold half of a surrogate pair (it turns both halves into
    // U+FFFD): such a change would leave this text, the Y.Text and every
    // other peer's text different. Editors never make one; refuse it, so
    // whoever sent it resyncs instead of diverging.
    const cut = pairProblem(cs, history.text)
    if (cut !== null) throw new SwarmpadError('BAD_CHANGE', cut)
    if (cs.empty) return { version: history.version, changes: cs, durable: Promise.resolve() }
    if (cs.newLength > MAX_TEXT_LENGTH) {
      throw new SwarmpadError('TOO_LARGE', `The text would be ${cs.newLength} characters long; the limit is ${MAX_TEXT_LENGTH}`)
    }

    const durable = this.queue(cs)
    history.advance(cs, 'local', tag)
    return { version: history.version, changes: cs, durable }
  }

  /// Replace the whole text with `text` as a minimal diff, so concurrent
  /// edits elsewhere in the document survive.
  replaceText(text: string): EditResult {
    const current = this.host.history.text
    // A character diff may cut a surrogate pair ("😀" -> "😁" share the high
    // half): widen such changes to whole pairs.
    const cs = changeSetOf(diffChanges(current.toString(), text), current.length)
    return this.edit(keepPairsWhole(cs, current), this.host.history.version, undefined)
  }

  /// Queue a local change for the Y.Doc. Edits that arrive together (in one
  /// turn of the event loop) go into one Yjs transaction: one update to
  /// encode and merge instead of one per keystroke. The text (a rope) is
  /// already current; everything that reads the Y.Doc calls flush() first.
  private queue(cs: ChangeSet): Promise<void> {
    let batch = this.batch
    if (batch === null) {
      let resolve!: () => void
      let reject!: (err: Error) => void
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
      done.catch(() => {}) // callers that ignore durability must not see an unhandled rejection
      batch = this.batch = { steps: [], inserted: 0, done, resolve, reject }
      setImmediate(() => this.flush())
    }
    const steps = batch.steps
    cs.iterChanges((fromA, toA, fromB, _toB, inserted) => {
      const text = inserted.toString()
      steps.push({ at: fromB, del: toA - fromA, insert: text })
      batch.inserted += text.length
    })
    const done = batch.done
    if (steps.length >= MAX_BATCH_STEPS || batch.inserted >= MAX_INSERT_CHUNK) this.flush()
    return done
  }

  /// Apply queued local changes to the Y.Text, in LOCAL transactions of at
  /// most MAX_INSERT_CHUNK inserted characters each (so every Yjs update fits
  /// in one block), and hand the updates to the append queue.
  flush(): void {
    const batch = this.batch
    if (batch === null) return
    this.batch = null
    if (!this.host.isOpen()) {
      batch.reject(new SwarmpadError('CLOSED', 'document closed before the edit was saved'))
      return
    }
    const replica = this.host.replica
    const updates: Uint8Array[] = []
    const collect = (update: Uint8Array, origin: unknown) => {
      if (origin === LOCAL) updates.push(update)
    }
    replica.doc.on('update', collect)
    try {
      let i = 0
      const steps = batch.steps
      while (i < steps.length) {
        replica.doc.transact(() => {
          let budget = MAX_INSERT_CHUNK
          while (i < steps.length && (budget > 0 || steps[i]!.insert.length === 0)) {
            const s = steps[i]!
            if (s.del > 0) {
              replica.ytext.delete(s.at, s.del)
              s.del = 0
            }
            if (s.insert.length <= budget) {
              if (s.insert.length > 0) replica.ytext.insert(s.at, s.insert)
              budget -= s.insert.length
              i++
              continue
            }
            // Split a long insert; never between the halves of a surrogate pair.
            let cut = budget
            if (isHighSurrogate(s.insert.charCodeAt(cut - 1))) cut--
            if (cut <= 0) break
            replica.ytext.insert(s.at, s.insert.slice(0, cut))
            s.at += cut
            s.insert = s.insert.slice(cut)
            budget = 0
          }
        }, LOCAL)
      }
    } finally {
      replica.doc.off('update', collect)
    }
    let last: Promise<void> = Promise.resolve()
    for (const u of updates) last = this.host.push(u)
    last.then(batch.resolve, batch.reject)
  }
}
