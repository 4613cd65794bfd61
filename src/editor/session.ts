// One open file of one editor connection: the editor protocol's revision
// rule (ot.ts) against the document's own edit path (`SwarmDocument.edit()`
// and its `change` event, as the page's authority uses them), the network's
// cursors both ways, and the file mirror held while the editor owns the file.
import type { ChangeSet } from '@codemirror/state'
import type { OpenDocument } from '../swarmpad.js'
import type { DocumentChange, SwarmDocument } from '../sync/document.js'
import type { PeerSource } from '../server/peers.js'
import { errorMessage } from '../errors.js'
import { FileState } from './ot.js'
import { changesOfDelta, clampedOffsetAt, deltaOfChanges, diffTexts, positionAt, type Range } from './positions.js'
import { errorResponse, notification, REFUSED, response, type Id } from './rpc.js'

/// What a session needs from its connection.
export interface SessionHost {
  readonly label: string
  readonly peers: PeerSource
  send(text: string): void
  /// send(), once the document has done this turn's work (an edit's answer).
  sendAfterTurn(text: string): void
  log(line: string): void
}

export class FileSession {
  readonly doc: SwarmDocument
  readonly state: FileState
  /// Why the editor's text can no longer be followed, once it cannot: every
  /// later edit of this file is refused until the editor opens it again.
  desynced: string | null = null
  private applying = false
  private closed = false
  private cursorSet = false
  private readonly sentCursors = new Map<string, string>()
  private unwatch: () => void = () => {}
  private release: () => void = () => {}
  private readonly onChange = (c: DocumentChange) => this.changed(c)
  private readonly onClose = () => this.documentClosed()

  constructor(
    readonly host: SessionHost,
    readonly uri: string,
    readonly path: string,
    readonly open: OpenDocument,
    state: FileState
  ) {
    this.doc = open.doc
    this.state = state
  }

  /// Follow the document from now on; first make the editor's text equal to
  /// it (the document is never overwritten with the editor's text).
  start(hold: (path: string) => () => void): void {
    this.doc.on('change', this.onChange)
    this.doc.on('close', this.onClose)
    this.release = hold(this.path)
    this.unwatch = this.host.peers.watch(
      this.doc,
      () => this.sendCursors(),
      () => {}
    )
    this.catchUp()
    this.sendCursors()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.doc.off('change', this.onChange)
    this.doc.off('close', this.onClose)
    this.unwatch()
    this.release()
    if (this.cursorSet && !this.doc.closingOrClosed) this.host.peers.setCursor(this.doc, null)
  }

  /// Send the editor whatever makes its text the document's.
  private catchUp(): void {
    const cs = diffTexts(this.state.text, this.doc.text)
    if (!cs.empty) this.sendChange(cs)
  }

  private changed(c: DocumentChange): void {
    if (this.applying || this.closed || this.desynced !== null) return
    if (c.changes.length !== this.state.text.length) {
      // Never expected (every change of the document passes here in order);
      // recover by text rather than send positions that do not fit.
      this.host.log(`${this.uri}: a change of the document did not fit the text this session knew; resyncing by text`)
      this.catchUp()
      return
    }
    this.sendChange(c.changes)
  }

  private sendChange(changes: ChangeSet): void {
    const before = this.state.text
    const delta = deltaOfChanges(before, changes)
    // To the editor first; then the state moves on (fromDocument() keeps the
    // editor revision the notification names) by the change exactly as the
    // editor (and the client's replica) reads it back from the delta.
    this.host.send(notification('edit', { uri: this.uri, revision: this.state.editorRevision, delta }, 'op'))
    const sent = changesOfDelta(before, delta)
    this.state.fromDocument(typeof sent === 'string' ? changes : sent)
  }

  private documentClosed(): void {
    if (this.closed) return
    this.desync('the document was closed (swarmpad stopping, or the document moved after a re-key)')
  }

  /// An edit of the editor: transformed over the document's changes it had
  /// not seen, applied to the document, answered.
  edit(id: Id | undefined, params: Record<string, unknown>): void {
    const answer = (text: string) => {
      if (id !== undefined) this.host.send(text)
    }
    if (this.desynced !== null) {
      return answer(errorResponse(id ?? null, REFUSED, `${this.uri} is out of step with its document (${this.desynced}); close the file and open it again`))
    }
    const base = this.state.editorText(params.revision)
    if (typeof base === 'string') return this.refuse(id, `edit: ${base}`)
    const changes = changesOfDelta(base, params.delta)
    if (typeof changes === 'string') return this.refuse(id, `edit: ${changes}`)
    const before = this.state.text
    const { toDocument, resend } = this.state.fromEditor(changes)
    let failure: string | null = null
    if (!toDocument.empty) {
      this.applying = true
      try {
        this.doc.edit(toDocument)
      } catch (err) {
        failure = errorMessage(err)
      } finally {
        this.applying = false
      }
    }
    // The answer after the keystroke's block is on its way (sendAfterTurn);
    // what follows it waits behind it.
    if (id !== undefined) {
      this.host.sendAfterTurn(failure === null ? response(id, 'success', 'applied') : errorResponse(id, REFUSED, `${failure}; your edit was undone`, 'applied'))
    }
    for (const r of resend) {
      this.host.send(notification('edit', { uri: this.uri, revision: this.state.editorRevision, delta: deltaOfChanges(r.before, r.changes) }, 'resend'))
    }
    if (failure !== null) {
      // Not in the document (read-only, moving, too large): undo it in the editor.
      this.host.log(`${this.uri}: an edit was refused (${failure}) and undone in the editor`)
      this.sendChange(toDocument.invert(before))
      if (this.state.text.length !== this.doc.text.length || !this.state.text.eq(this.doc.text)) this.catchUp()
    }
  }

  /// Refuse an edit that cannot be applied: the editor has it, the document
  /// does not, so its later edits cannot be placed either.
  private refuse(id: Id | undefined, reason: string): void {
    this.desync(reason)
    if (id !== undefined) this.host.send(errorResponse(id, REFUSED, `${reason}; ${this.uri} is out of step with its document now: close the file and open it again`))
  }

  desync(reason: string): void {
    if (this.desynced !== null) return
    this.desynced = reason
    this.host.log(`${this.host.label} ${this.uri}: out of step with its document: ${reason}`)
  }

  /// The editor's cursor becomes this device's cursor on the network.
  cursor(ranges: unknown): string | null {
    if (!Array.isArray(ranges)) return 'ranges must be an array'
    if (this.desynced !== null || this.doc.closingOrClosed) return null
    const first = ranges[0] as Partial<Range> | undefined
    if (first === undefined) {
      this.host.peers.setCursor(this.doc, null)
      this.cursorSet = true
      return null
    }
    if (first === null || typeof first !== 'object') return 'a range must be { start, end }'
    // Positions race with edits on their way: clamp, never refuse.
    const anchor = clampedOffsetAt(this.state.text, first.start)
    const head = clampedOffsetAt(this.state.text, first.end)
    if (anchor === null || head === null) return 'a range needs start and end positions'
    this.host.peers.setCursor(this.doc, { anchor, head })
    this.cursorSet = true
    return null
  }

  /// Other members' cursors, as `cursor` notifications (only those that changed).
  private sendCursors(): void {
    if (this.closed || this.desynced !== null) return
    const seen = new Set<string>()
    for (const p of this.host.peers.presence(this.doc)) {
      const ranges = p.online && p.anchor !== null && p.head !== null ? [{ start: positionAt(this.state.text, p.anchor), end: positionAt(this.state.text, p.head) }] : []
      seen.add(p.writerKey)
      const json = JSON.stringify([p.name, ranges])
      if (this.sentCursors.get(p.writerKey) === json) continue
      this.sentCursors.set(p.writerKey, json)
      this.host.send(notification('cursor', { userid: p.writerKey, name: p.name, uri: this.uri, ranges }))
    }
    for (const [key, json] of this.sentCursors) {
      if (seen.has(key)) continue
      this.sentCursors.delete(key)
      if (JSON.parse(json)[1].length > 0) this.host.send(notification('cursor', { userid: key, uri: this.uri, ranges: [] }))
    }
  }
}
