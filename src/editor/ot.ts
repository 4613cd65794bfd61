// The revision rule of the editor protocol for one open file, in UTF-16
// change sets. Pure: the daemon runs one per open file (src/editor/session.ts)
// and `swarmpad client` runs a replica of it (src/editor/relay.ts), fed with
// the same events, to resume after the daemon restarts.
import { ChangeSet, type Text } from '@codemirror/state'

/// Daemon changes the editor has not confirmed, at most; past this the
/// oldest ones, if older than COMPACT_AGE_MS, are merged into one.
export const MAX_QUEUE = 4096
const COMPACT_AGE_MS = 30_000

/// One change of the document sent to the editor and not known to be applied
/// there; `count` daemon revisions (more than one once merged).
export interface Queued {
  changes: ChangeSet
  count: number
  at: number
}

/// What a session is made of (the replica sends it on resume).
export interface FileStateJSON {
  /// The editor's text where the queue starts.
  base: string
  queue: Array<{ changes: unknown; count: number }>
  editorRevision: number
  daemonRevision: number
}

/// Editor revision: how many edits of the editor the daemon took. Daemon
/// revision: how many changes of the document it sent. An edit of the editor
/// names the daemon revision it was made at; the daemon changes it had not
/// applied then are still queued: the edit is transformed over them (never
/// dropped), they over it, and they go to the editor again with the new
/// editor revision (the editor ignored them: it had moved on). A change of
/// the document goes to the editor at once with the current editor revision.
///
/// `base` + the queue is always `text`, the document's text. Ties between
/// the editor's and the document's insertions at one place put the
/// document's first, on both sides (CodeMirror's ChangeSet.map).
export class FileState {
  base: Text
  queue: Queued[] = []
  text: Text
  editorRevision = 0
  daemonRevision = 0

  constructor(content: Text) {
    this.base = content
    this.text = content
  }

  /// Daemon revisions still queued.
  get queued(): number {
    let n = 0
    for (const q of this.queue) n += q.count
    return n
  }

  /// A change of the document made elsewhere (`changes` applies to `text`).
  /// Returns the revision to send it with.
  fromDocument(changes: ChangeSet, now = Date.now()): number {
    if (changes.length !== this.text.length) throw new RangeError(`a change of length ${changes.length} for a text of length ${this.text.length}`)
    this.queue.push({ changes, count: 1, at: now })
    this.daemonRevision++
    this.text = changes.apply(this.text)
    if (this.queue.length > MAX_QUEUE) this.compact(now)
    return this.editorRevision
  }

  /// The text an edit made at daemon revision `revision` refers to, dropping
  /// from the queue what the editor had applied then; or why there is none.
  editorText(revision: unknown): Text | string {
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) return `revision ${JSON.stringify(revision)} is not a non-negative integer`
    if (revision > this.daemonRevision) return `revision ${revision} is from the future: ${this.daemonRevision} edits were sent`
    const seen = revision - (this.daemonRevision - this.queued)
    if (seen < 0) return `revision ${revision} is older than one already used (${this.daemonRevision - this.queued})`
    let i = 0
    let cut = 0
    while (i < this.queue.length && cut + this.queue[i]!.count <= seen) cut += this.queue[i++]!.count
    if (cut !== seen) return `revision ${revision} falls inside changes merged long ago`
    for (const q of this.queue.slice(0, i)) this.base = q.changes.apply(this.base)
    this.queue.splice(0, i)
    return this.base
  }

  /// Take an edit of the editor (`changes` applies to the text editorText()
  /// returned). Returns the edit for the document's current text and the
  /// queued changes to send again, each with the text it applies to.
  fromEditor(changes: ChangeSet): { toDocument: ChangeSet; resend: Array<{ changes: ChangeSet; before: Text }> } {
    if (changes.length !== this.base.length) throw new RangeError(`an edit of length ${changes.length} for a text of length ${this.base.length}`)
    let edit = changes
    for (const q of this.queue) {
      const mapped = edit.map(q.changes)
      q.changes = q.changes.map(edit, true)
      edit = mapped
    }
    this.base = changes.apply(this.base)
    this.text = edit.apply(this.text)
    this.editorRevision++
    const resend: Array<{ changes: ChangeSet; before: Text }> = []
    let before = this.base
    for (const q of this.queue) {
      resend.push({ changes: q.changes, before })
      before = q.changes.apply(before)
    }
    return { toDocument: edit, resend }
  }

  /// Merge the oldest queued changes sent more than COMPACT_AGE_MS ago:
  /// an editor applies what it receives at once, so it applied those long
  /// before it could name a revision among them.
  compact(now = Date.now()): void {
    let n = 0
    while (n < this.queue.length - 1 && now - this.queue[n]!.at > COMPACT_AGE_MS) n++
    if (n < 2) return
    let changes = this.queue[0]!.changes
    let count = this.queue[0]!.count
    for (let i = 1; i < n; i++) {
      changes = changes.compose(this.queue[i]!.changes)
      count += this.queue[i]!.count
    }
    this.queue.splice(0, n, { changes, count, at: this.queue[n - 1]!.at })
  }

  toJSON(): FileStateJSON {
    return {
      base: this.base.toString(),
      queue: this.queue.map((q) => ({ changes: q.changes.toJSON(), count: q.count })),
      editorRevision: this.editorRevision,
      daemonRevision: this.daemonRevision
    }
  }

  /// A state from its JSON (a replica's, on resume), or why it is not one.
  static fromJSON(json: unknown, textOf: (s: string) => Text): FileState | string {
    if (json === null || typeof json !== 'object') return 'state must be an object'
    const j = json as Partial<FileStateJSON>
    const nat = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
    if (typeof j.base !== 'string' || !Array.isArray(j.queue) || !nat(j.editorRevision) || !nat(j.daemonRevision)) return 'state needs base, queue, editorRevision and daemonRevision'
    const state = new FileState(textOf(j.base))
    let text = state.base
    let count = 0
    for (const [i, q] of j.queue.entries()) {
      let cs: ChangeSet
      try {
        cs = ChangeSet.fromJSON((q as { changes?: unknown })?.changes)
      } catch {
        return `queued change ${i} does not parse`
      }
      const n = (q as { count?: unknown }).count
      if (!nat(n) || (n as number) < 1) return `queued change ${i} has no count`
      if (cs.length !== text.length) return `queued change ${i} does not fit the text before it`
      text = cs.apply(text)
      count += n as number
      state.queue.push({ changes: cs, count: n as number, at: Date.now() })
    }
    if (count > j.daemonRevision!) return 'more changes queued than sent'
    state.text = text
    state.editorRevision = j.editorRevision!
    state.daemonRevision = j.daemonRevision!
    return state
  }
}
