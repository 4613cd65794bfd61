import * as Y from 'yjs'
import { deltaSplitsPair } from '../doc/text-pairs.js'
import { changeSetOf, deltaToChangeSet, diffChanges, type DeltaOp } from '../doc/changes.js'
import { TEXT_ROOT } from '../doc/yjs-guard.js'
import type { TextHistory } from './text-history.js'

/// The origin of Yjs transactions this device makes from its own edits.
export const LOCAL = Symbol('swarmpad-local')
/// The origin of Yjs transactions that apply updates from the view.
export const REMOTE = Symbol('swarmpad-remote')

/// The device's Y.Doc of one document (a cache derived from the view) and
/// its Y.Text, possibly still to be loaded from a checkpoint.
export class Replica {
  private docValue: Y.Doc | undefined
  private ytextValue!: Y.Text
  /// A checkpoint whose Yjs state is not loaded yet: the text is already
  /// shown; the Y.Doc is built on first use or right after open.
  private deferredLoad: { doc: Y.Doc; state: Uint8Array; text: string } | null = null
  private openClockValue = 0

  /// `clientId`: this device's Yjs clientID in the document. `loaded`: the
  /// text a deferred checkpoint state holds, once loaded (see finishDeferredLoad()).
  constructor(
    private readonly clientId: () => number,
    private readonly loaded: (text: string, expected: string) => void
  ) {}

  /// The device's Y.Doc (loads a deferred checkpoint state first).
  get doc(): Y.Doc {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.docValue!
  }

  get ytext(): Y.Text {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.ytextValue
  }

  /// The Y.Doc as it is, without loading a deferred state (undefined before open).
  get current(): Y.Doc | undefined {
    return this.docValue
  }

  get deferred(): boolean {
    return this.deferredLoad !== null
  }

  /// This device's Yjs clock when the document opened (see SwarmDocument.openClock).
  get openClock(): number {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.openClockValue
  }

  /// Note the open clock from the Y.Doc as it is now (a deferred load notes its own).
  markOpenClock(): void {
    if (this.deferredLoad === null) this.openClockValue = Y.getState(this.doc.store, this.clientId())
  }

  /// Use `doc` from now on (the caller destroys the old one).
  set(doc: Y.Doc): void {
    this.docValue = doc
    this.ytextValue = doc.getText(TEXT_ROOT)
  }

  /// Use `doc` once `state` is loaded into it, on first use; `text` is what it holds.
  defer(doc: Y.Doc, state: Uint8Array, text: string): void {
    this.deferredLoad = { doc, state, text }
  }

  /// Load the checkpoint's Yjs state into the Y.Doc. Its text was shown
  /// since open; nothing changed the Y.Doc meanwhile (local edits wait in the
  /// local batch, folds run after this), so the two agree.
  private finishDeferredLoad(): void {
    const pending = this.deferredLoad
    if (pending === null) return
    this.deferredLoad = null
    Y.applyUpdate(pending.doc, pending.state, REMOTE)
    this.docValue = pending.doc
    this.ytextValue = pending.doc.getText(TEXT_ROOT)
    this.keepClientId()
    this.openClockValue = Y.getState(pending.doc.store, this.clientId())
    this.loaded(this.ytextValue.toString(), pending.text)
  }

  /// Yjs picks a new random clientID when a remote transaction advances its
  /// own one (our own blocks from an earlier session): always put ours back.
  keepClientId(): void {
    const id = this.clientId()
    if (this.doc.clientID !== id) this.doc.clientID = id
  }

  destroy(): void {
    this.deferredLoad?.doc.destroy()
    this.deferredLoad = null
    this.docValue?.destroy()
  }
}

/// A fresh Y.Doc for the document.
export function newYDoc(): Y.Doc {
  const doc = new Y.Doc({ gc: true })
  return doc
}

/// Apply every part to `doc` in one transaction: about a third faster than
/// merging them first (automerge-paper's snapshot and 61 updates: 30 ms, not 40-90).
export function applyParts(doc: Y.Doc, parts: readonly Uint8Array[]): void {
  if (parts.length > 0) doc.transact(() => { for (const u of parts) Y.applyUpdate(doc, u, REMOTE) }, REMOTE)
}

/// Integrate remote updates into the Y.Doc and advance the text by what
/// they changed (queued local edits must be flushed first).
export function integrate(replica: Replica, history: TextHistory, updates: readonly Uint8Array[]): void {
  const before = history.text.length
  let delta: DeltaOp[] | null = null
  const observer = (event: Y.YTextEvent) => {
    delta = event.delta as DeltaOp[]
  }
  replica.ytext.observe(observer)
  try {
    replica.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(replica.doc, u, REMOTE)
    }, REMOTE)
  } finally {
    replica.ytext.unobserve(observer)
    replica.keepClientId()
  }
  if (delta === null) return
  const splits = deltaSplitsPair(delta, history.text)
  history.advance(deltaToChangeSet(delta, before), 'remote')
  if (splits) {
    // Yjs replaced the halves of a surrogate pair the update split with
    // U+FFFD, which its delta does not report: take the text from the Y.Text.
    const now = replica.ytext.toString()
    const cs = changeSetOf(diffChanges(history.text.toString(), now), history.text.length)
    if (!cs.empty) history.advance(cs, 'remote')
  }
}
