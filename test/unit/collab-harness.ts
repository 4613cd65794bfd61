// A DummyServer-style harness around the collab authority (src/server/collab.ts):
// a real Swarmpad and CollabHub, and simulated tabs that are the page's own
// CollabClient over plain EditorStates, talking through in-memory queues the
// test delivers one message at a time (or drops, or replays).
import { EditorSelection, EditorState, Text, type Transaction } from '@codemirror/state'
import { collab } from '@codemirror/collab'
import { CollabHub, type Connection } from '../../src/server/collab.js'
import { CollabClient, type ClientHost } from '../../src/web/collab-client.js'
import type { ServerMessage } from '../../src/server/protocol.js'

export interface Closed {
  code: number
  reason: string
}

/// One simulated tab: a CollabClient over a plain EditorState and a pair of
/// message queues to and from the hub.
export class SimTab implements ClientHost {
  state: EditorState
  readonly client: CollabClient
  toServer: string[] = []
  toClient: string[] = []
  /// Every push this tab sent (for replays).
  sentPushes: string[] = []
  conn: Connection | null = null
  closed: Closed[] = []
  errors: Array<{ code: string; message: string }> = []
  private rid = 0

  constructor(
    readonly hub: () => CollabHub,
    readonly name: string,
    readonly doc: string
  ) {
    this.state = this.createState(Text.empty, 0, name, null)
    this.client = new CollabClient({
      doc,
      clientID: name,
      host: this,
      nextRid: () => ++this.rid,
      events: { error: (code, message) => this.errors.push({ code, message }) }
    })
  }

  // ClientHost
  dispatch(tr: Transaction): void {
    this.state = tr.state
  }
  setState(state: EditorState): void {
    this.state = state
  }
  createState(doc: Text, version: number, clientID: string, selection: EditorSelection | null): EditorState {
    return EditorState.create({
      doc,
      ...(selection ? { selection } : {}),
      extensions: [EditorState.lineSeparator.of('\n'), collab({ startVersion: version, clientID })]
    })
  }

  get text(): string {
    return this.state.doc.toString()
  }

  /// Open a connection (dropping the old one and everything in flight).
  connect(): void {
    this.disconnect()
    const tab = this
    const queueOut: string[] = (this.toClient = [])
    this.conn = this.hub().connect({
      send: (data) => queueOut.push(data),
      close: (code, reason) => tab.closed.push({ code, reason }),
      bufferedAmount: 0
    })
    this.toServer = []
    this.client.connected((data) => {
      this.toServer.push(data)
      if (data.includes('"type":"push"')) this.sentPushes.push(data)
    })
  }

  disconnect(): void {
    if (this.conn !== null) this.conn.close()
    this.conn = null
    this.client.disconnected()
    this.toServer = []
    this.toClient = []
  }

  /// Deliver the oldest message to the hub. Returns false when there was none.
  deliverToServer(): boolean {
    const m = this.toServer.shift()
    if (m === undefined || this.conn === null) return false
    this.conn.receive(m)
    return true
  }

  deliverToClient(): boolean {
    const m = this.toClient.shift()
    if (m === undefined) return false
    this.client.receive(JSON.parse(m) as ServerMessage)
    return true
  }

  /// Apply a local change: insert at a position, or delete a range.
  edit(spec: { from: number; to?: number; insert?: string }): void {
    this.state = this.state.update({ changes: spec }).state
  }

  /// Resend a push sent earlier (a replayed or stale frame).
  replay(i: number): void {
    const m = this.sentPushes[i]
    if (m !== undefined && this.conn !== null) this.toServer.push(m)
  }
}

/// Let promises and timers run (durability, scheduled deliveries).
export async function settle(ms = 0): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
  await new Promise((r) => setImmediate(r))
}
