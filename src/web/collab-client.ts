// The page's side of the collab protocol (src/server/PROTOCOL.md), for one
// document. It holds no DOM: the page drives it with an EditorView, the unit
// tests with plain EditorStates.
import { ChangeSet, EditorSelection, Text, Transaction, type ChangeDesc, type EditorState } from '@codemirror/state'
import { getClientID, getSyncedVersion, receiveUpdates, sendableUpdates, type Update } from '@codemirror/collab'
import { changeSetOf, diffChanges } from '../doc/changes.js'
import {
  changeSetFromJSON,
  MAX_UPDATES_PER_PUSH,
  PUSH_BUDGET_BYTES,
  textOf,
  type PresencePeer,
  type PushedUpdate,
  type ServerMessage,
  type WelcomeMessage
} from '../server/protocol.js'

/// Where the client's EditorState lives.
export interface ClientHost {
  readonly state: EditorState
  dispatch(tr: Transaction): void
  /// Replace the state (after a reset; the undo history starts over).
  setState(state: EditorState): void
  /// A fresh state with the page's extensions and collab({ startVersion, clientID }).
  createState(doc: Text, version: number, clientID: string, selection: EditorSelection | null): EditorState
}

export interface ClientEvents {
  /// The document is usable (first welcome, and after every reconnect).
  welcome?(msg: WelcomeMessage): void
  /// Remote cursors in the current text.
  presence?(peers: PresencePeer[]): void
  error?(code: string, message: string): void
  /// Updates that were not confirmed and could not be rebased after a reset.
  dropped?(count: number): void
}

/// A received remote cursor, not yet mapped to the current text.
interface PendingPresence {
  version: number
  peers: PresencePeer[]
}

/// How many received versions are kept to map presence that lags behind.
const RECENT = 512

export class CollabClient {
  readonly doc: string
  readonly clientID: string
  private readonly host: ClientHost
  private readonly events: ClientEvents
  private send: ((data: string) => void) | null = null
  private readonly nextRid: () => number
  /// The authority's run we are in sync with; null before the first welcome.
  epoch: string | null = null
  ready = false
  /// The text at the synced version (what the authority confirmed).
  private confirmed: Text | null = null
  private inflight: { rid: number; maxSeq: number; version: number } | null = null
  /// The synced version at which the authority last said we were behind.
  private behindAt = -1
  /// Set when the authority refused our changes: the next reset drops them.
  private dropPending = false
  /// Highest seq the authority acknowledged in this connection.
  private acceptedSeq = -1
  private nextSeq = 0
  /// Id of the latest join sent (welcomes echo it).
  private joinId = 0
  private readonly seqOf = new WeakMap<Transaction, number>()
  private recent: Array<{ version: number; changes: ChangeSet }> = []
  private pendingPresence: PendingPresence | null = null
  /// Pushes are sent by push() (tests) or scheduled after every change (page).
  autoPush = false
  private pushScheduled = false
  /// Counters for tests and the page's status.
  stats = { pushes: 0, resets: 0, resumes: 0, dropped: 0 }

  constructor(opts: { doc: string; clientID: string; host: ClientHost; events?: ClientEvents; nextRid: () => number }) {
    this.doc = opts.doc
    this.clientID = opts.clientID
    this.host = opts.host
    this.events = opts.events ?? {}
    this.nextRid = opts.nextRid
  }

  /// The connection opened: (re)join, resuming where we were if we can.
  connected(send: (data: string) => void): void {
    this.send = send
    this.ready = false
    this.inflight = null
    this.acceptedSeq = -1
    this.behindAt = -1
    const resume = this.epoch !== null ? { epoch: this.epoch, version: getSyncedVersion(this.host.state) } : null
    // nextSeq: every seq below it was used before this join; a reset renumbers
    // what is unconfirmed from nextSeq on, so the authority refuses them all
    // from now on (a push of them still on its way would double them).
    send(JSON.stringify({ type: 'join', doc: this.doc, clientID: this.clientID, resume, nextSeq: this.nextSeq, jid: ++this.joinId }))
  }

  disconnected(): void {
    this.send = null
    this.ready = false
    this.inflight = null
  }

  /// Start over from the authority's current text (keeping unconfirmed edits).
  resync(): void {
    const send = this.send
    if (send === null) return
    this.epoch = null
    this.connected(send)
  }

  /// Updates not yet confirmed durable by the authority.
  get unconfirmed(): number {
    // Before the first welcome the state has no collab field yet.
    return this.confirmed === null ? 0 : sendableUpdates(this.host.state).length
  }

  /// Handle one message for this document. Returns false if it was not ours.
  receive(msg: ServerMessage): boolean {
    if (!('doc' in msg) || msg.doc !== this.doc) return false
    switch (msg.type) {
      case 'welcome':
        this.welcome(msg)
        return true
      case 'updates':
        this.updates(msg.version, msg.updates)
        return true
      case 'ack':
        if (this.inflight !== null && this.inflight.rid === msg.rid) {
          if (msg.accepted) this.acceptedSeq = Math.max(this.acceptedSeq, this.inflight.maxSeq)
          // Not accepted: we are behind. Push again once updates have moved us on.
          else this.behindAt = this.inflight.version
          this.inflight = null
          this.schedulePush()
        }
        return true
      case 'error': {
        const ours = this.inflight !== null && msg.rid === this.inflight.rid
        if (ours) this.inflight = null
        this.events.error?.(msg.code, msg.message)
        // Our change was refused as it is: sending it again would be refused
        // again, so the reset drops it (and says so).
        if (ours && (msg.code === 'BAD_CHANGE' || msg.code === 'TOO_LARGE' || msg.code === 'BAD_SEQ')) this.dropPending = true
        if (msg.resync) this.resync()
        return true
      }
      case 'presence':
        this.pendingPresence = { version: msg.version, peers: msg.peers }
        this.flushPresence()
        return true
      default:
        return false
    }
  }

  private welcome(msg: WelcomeMessage): void {
    // The answer to a join we have sent again since: the state it describes
    // may predate pushes we made after an earlier welcome. The latest join's
    // answer follows.
    if (msg.jid !== undefined && msg.jid !== this.joinId) return
    if (msg.mode === 'resume' && this.epoch === msg.epoch && this.confirmed !== null) {
      this.stats.resumes++
    } else {
      this.reset(msg)
    }
    this.epoch = msg.epoch
    this.ready = true
    this.events.welcome?.(msg)
    this.schedulePush()
  }

  /// Start from the authority's text: drop what it already has of ours, map
  /// the rest over the difference, and make it unconfirmed again.
  private reset(msg: WelcomeMessage): void {
    this.stats.resets++
    const state = this.host.state
    const serverText = textOf(msg.text ?? '')
    const applied = msg.applied ?? -1
    const pending = this.confirmed === null ? [] : sendableUpdates(state)
    // After a refusal, the first change the authority has not applied is the refused one.
    let discard = this.dropPending
    this.dropPending = false
    let base = this.confirmed ?? Text.empty
    let k = 0
    while (k < pending.length) {
      const seq = this.seqOf.get(pending[k]!.origin)
      if (seq === undefined || seq > applied || pending[k]!.changes.length !== base.length) break
      base = pending[k]!.changes.apply(base)
      k++
    }
    let diff = changeSetOf(diffChanges(base.toString(), serverText.toString()), base.length)
    const rest: ChangeSet[] = []
    let dropped = 0
    for (const u of pending.slice(k)) {
      if (discard) {
        // It applies to `base`; what follows it is based on base + it: undo it, then the diff.
        discard = false
        dropped++
        try {
          diff = u.changes.invert(base).compose(diff)
        } catch {
          // the rest will not fit and is dropped below
        }
        continue
      }
      try {
        rest.push(u.changes.map(diff))
        diff = diff.map(u.changes, true)
      } catch {
        dropped++
      }
    }
    // Map the selection from the old text to the new one.
    const oldText = state.doc
    let next = this.host.createState(serverText, msg.version, this.clientID, null)
    for (const cs of rest) {
      if (cs.length !== next.doc.length) {
        dropped++
        continue
      }
      next = next.update({ changes: cs, annotations: [Transaction.addToHistory.of(false)] }).state
    }
    let selection: EditorSelection | null = null
    if (this.confirmed !== null) {
      try {
        const move = changeSetOf(diffChanges(oldText.toString(), next.doc.toString()), oldText.length)
        selection = state.selection.map(move)
      } catch {
        selection = null
      }
    }
    if (selection !== null) next = next.update({ selection, annotations: [Transaction.addToHistory.of(false)] }).state
    this.confirmed = serverText
    this.behindAt = -1
    this.recent = []
    this.host.setState(next)
    if (dropped > 0) {
      this.stats.dropped += dropped
      this.events.dropped?.(dropped)
    }
  }

  private updates(version: number, wire: Array<{ clientID: string; changes: unknown }>): void {
    if (!this.ready || this.confirmed === null) return
    const synced = getSyncedVersion(this.host.state)
    if (version > synced) return this.resync() // a gap: should not happen
    const skip = synced - version
    if (skip >= wire.length) return
    const list: Update[] = []
    let text = this.confirmed
    try {
      for (const u of wire.slice(skip)) {
        const changes = changeSetFromJSON(u.changes)
        if (changes.length !== text.length) throw new RangeError('update does not fit')
        text = changes.apply(text)
        list.push({ changes, clientID: u.clientID })
      }
    } catch {
      return this.resync()
    }
    this.confirmed = text
    let v = synced
    for (const u of list) this.recent.push({ version: v++, changes: u.changes })
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT)
    this.host.dispatch(receiveUpdates(this.host.state, list))
    this.flushPresence()
    this.schedulePush()
  }

  // --- pushing ---

  /// Call after a local change (the page does, through an update listener).
  changed(): void {
    this.schedulePush()
  }

  /// Push after the current task: every change made in it goes in one push.
  /// A microtask, not a timer: browsers throttle timers in background tabs.
  private schedulePush(): void {
    if (!this.autoPush || this.pushScheduled) return
    this.pushScheduled = true
    queueMicrotask(() => {
      this.pushScheduled = false
      this.push()
    })
  }

  /// Send unconfirmed updates if there is something new and no push is in
  /// flight. Returns the message sent, or null.
  push(): string | null {
    if (!this.ready || this.inflight !== null || this.send === null) return null
    const version = getSyncedVersion(this.host.state)
    if (version === this.behindAt) return null // wait for the updates we lack
    const updates = sendableUpdates(this.host.state)
    if (updates.length === 0) return null
    for (const u of updates) if (!this.seqOf.has(u.origin)) this.seqOf.set(u.origin, this.nextSeq++)
    // Nothing new since the last accepted push (the rest waits to be durable).
    if (this.seqOf.get(updates[updates.length - 1]!.origin)! <= this.acceptedSeq) return null
    const out: PushedUpdate[] = []
    let bytes = 0
    for (const u of updates) {
      const changes = u.changes.toJSON() as PushedUpdate['changes']
      const size = JSON.stringify(changes).length
      if (out.length > 0 && (bytes + size > PUSH_BUDGET_BYTES || out.length >= MAX_UPDATES_PER_PUSH)) break
      out.push({ seq: this.seqOf.get(u.origin)!, changes })
      bytes += size
    }
    const rid = this.nextRid()
    const msg = JSON.stringify({ type: 'push', doc: this.doc, rid, epoch: this.epoch, version, updates: out })
    this.inflight = { rid, maxSeq: out[out.length - 1]!.seq, version }
    this.stats.pushes++
    this.send(msg)
    return msg
  }

  // --- presence ---

  /// The main selection in the text at the synced version, for a presence message.
  cursorMessage(): string | null {
    if (!this.ready) return null
    const state = this.host.state
    const { anchor, head } = state.selection.main
    const back = this.unconfirmedDesc()
    const version = getSyncedVersion(state)
    const at = (pos: number) => (back === null ? pos : back.invertedDesc.mapPos(pos, -1))
    return JSON.stringify({ type: 'presence', doc: this.doc, epoch: this.epoch, version, anchor: at(anchor), head: at(head) })
  }

  private unconfirmedDesc(): ChangeDesc | null {
    const ups = sendableUpdates(this.host.state)
    if (ups.length === 0) return null
    let desc: ChangeDesc = ups[0]!.changes.desc
    for (let i = 1; i < ups.length; i++) desc = desc.composeDesc(ups[i]!.changes.desc)
    return desc
  }

  /// Map the newest received presence to the current text and report it.
  private flushPresence(): void {
    const p = this.pendingPresence
    if (p === null || !this.ready) return
    const synced = getSyncedVersion(this.host.state)
    if (p.version > synced) return // wait for the updates it is based on
    const maps: ChangeDesc[] = []
    if (p.version < synced) {
      const start = this.recent.findIndex((r) => r.version === p.version)
      if (start === -1 || this.recent[this.recent.length - 1]!.version !== synced - 1) {
        this.pendingPresence = null
        return
      }
      for (let i = start; i < this.recent.length; i++) maps.push(this.recent[i]!.changes.desc)
    }
    const fwd = this.unconfirmedDesc()
    if (fwd !== null) maps.push(fwd)
    const len = this.host.state.doc.length
    const map = (pos: number | null): number | null => {
      if (pos === null) return null
      let x = pos
      for (const m of maps) {
        if (x > m.length) return null
        x = m.mapPos(x, 1)
      }
      return Math.max(0, Math.min(len, x))
    }
    this.pendingPresence = null
    this.events.presence?.(p.peers.map((peer) => ({ ...peer, anchor: map(peer.anchor), head: map(peer.head) })))
  }

  /// The collab clientID of a state (for checks).
  static clientIDOf(state: EditorState): string {
    return getClientID(state)
  }
}
