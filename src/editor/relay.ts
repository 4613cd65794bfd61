// `swarmpad client`: the editor's end of the protocol on stdio (LSP framing),
// the daemon's end on its WebSocket `/editor`. It passes messages through,
// and keeps a replica of each open file's state (ot.ts, fed with what it
// passes: answered editor edits and the document's changes the daemon sent),
// so that when the daemon restarts the editor goes on: the client reconnects,
// puts every file's state back (`swarmpad/resume`), and sends again whatever
// the old daemon never answered and whatever the editor sent meanwhile.
import { FrameDecoder, MAX_FRAME_BYTES, encodeFrame } from './framing.js'
import { FileState } from './ot.js'
import { changesOfDelta, textOf } from './positions.js'
import { DROPPED, errorResponse, HELLO, idOf, PARSE_ERROR, PRIVATE, REFUSED, RESUME, withoutMark } from './rpc.js'

/// One connection to the daemon's editor socket.
export interface RelaySocket {
  send(text: string): void
  close(): void
  onMessage(handler: (text: string) => void): void
  onClose(handler: () => void): void
}

export interface RelayOptions {
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
  /// Connect to the daemon; `start`: start it when none runs. Null when none
  /// runs (and `start` was false). Throws when it cannot be reached.
  connect(start: boolean): Promise<RelaySocket | null>
  /// The folder the editor started the client in (for the daemon's log).
  root: string
  log(line: string): void
  /// How often to look for a daemon again while there is none.
  retryMs?: number
}

interface Replica {
  state: FileState
  desynced: string | null
}

/// A message for the daemon, and what to remember once it is sent.
interface Outgoing {
  text: string
  /// The id it is answered with (JSON), when it is a request.
  key: string | null
  sent: Sent | null
  /// The file of a cursor (only the newest one waits while there is no daemon).
  cursorOf: string | null
}

interface Sent {
  method: string
  params: Record<string, unknown>
  text: string
  /// False for the client's own requests: their answers stay here.
  forward: boolean
}

const OWN_ID_PREFIX = 'swarmpad-client-'

function parsed(text: string): Record<string, unknown> | null {
  try {
    const m: unknown = JSON.parse(text)
    return m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : null
  } catch {
    return null
  }
}

function withoutPrivate(m: Record<string, unknown>): string {
  delete m[PRIVATE]
  return JSON.stringify(m)
}

/// Runs until the editor closes stdin; resolves with the exit status.
export async function runRelay(options: RelayOptions): Promise<number> {
  const relay = new Relay(options)
  return relay.run()
}

class Relay {
  private readonly decoder = new FrameDecoder()
  private socket: RelaySocket | null = null
  private readonly replicas = new Map<string, Replica>()
  /// Requests the current daemon has not answered, in the order sent.
  private readonly unanswered = new Map<string, Sent>()
  /// Editor messages not sent yet (no daemon right now), in order.
  private waiting: Outgoing[] = []
  private ownId = 0
  private inputEnded = false
  private reconnecting = false
  private finish!: (code: number) => void
  private readonly done = new Promise<number>((resolve) => (this.finish = resolve))

  constructor(private readonly options: RelayOptions) {}

  async run(): Promise<number> {
    const first = await this.options.connect(true)
    if (first === null) throw new Error('no daemon')
    this.attach(first)
    this.options.input.on('data', (chunk: Buffer) => this.fromEditor(chunk))
    this.options.input.on('end', () => this.end())
    this.options.input.on('error', () => this.end())
    // The editor went away (a closed pipe): nothing left to do.
    this.options.output.on('error', () => this.end())
    return this.done
  }

  private end(): void {
    if (this.inputEnded) return
    this.inputEnded = true
    this.socket?.close()
    this.finish(0)
  }

  private write(text: string): void {
    this.options.output.write(encodeFrame(text))
  }

  // --- the editor's side ---

  private fromEditor(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.type === 'problem') {
        this.dropped(null, `broken framing: ${frame.reason}`)
        this.write(errorResponse(null, PARSE_ERROR, `broken framing (${frame.reason}); the message was skipped`))
        continue
      }
      this.editorMessage(frame.body)
    }
  }

  private editorMessage(text: string): void {
    let m: { id?: unknown; method?: unknown; params?: unknown }
    try {
      m = JSON.parse(text)
    } catch {
      // The daemon answers and logs it.
      return this.toDaemon({ text, key: null, sent: null, cursorOf: null })
    }
    if (m === null || typeof m !== 'object' || typeof m.method !== 'string') return this.toDaemon({ text, key: null, sent: null, cursorOf: null })
    const params = (m.params !== null && typeof m.params === 'object' ? m.params : {}) as Record<string, unknown>
    const id = 'id' in m ? idOf(m.id) : undefined
    if (m.method === 'close' && typeof params.uri === 'string') this.replicas.delete(params.uri)
    if (Buffer.byteLength(text) > MAX_FRAME_BYTES) {
      // (The decoder stops larger ones; this is one that grew in transit.)
      this.dropped(typeof params.uri === 'string' ? params.uri : null, `a message of more than ${MAX_FRAME_BYTES} bytes`)
      if (id !== undefined) this.write(errorResponse(id, REFUSED, `a message of more than ${MAX_FRAME_BYTES} bytes was dropped`))
      return
    }
    if (m.method === 'edit' && id === undefined) {
      // An edit sent as a notification: asked as a request of the client's
      // own, so its answer moves the replica on (and stays here).
      const own = `${OWN_ID_PREFIX}${++this.ownId}`
      const asked = JSON.stringify({ ...m, id: own })
      return this.toDaemon({ text: asked, key: JSON.stringify(own), sent: { method: m.method, params, text: asked, forward: false }, cursorOf: null })
    }
    const request = id !== undefined && id !== null
    this.toDaemon({
      text,
      key: request ? JSON.stringify(id) : null,
      sent: request ? { method: m.method, params, text, forward: true } : null,
      cursorOf: m.method === 'cursor' && typeof params.uri === 'string' ? params.uri : null
    })
  }

  private toDaemon(out: Outgoing): void {
    if (this.socket !== null) {
      if (out.key !== null && out.sent !== null) this.unanswered.set(out.key, out.sent)
      return this.socket.send(out.text)
    }
    // No daemon right now: keep it (only the newest cursor of a file).
    if (out.cursorOf !== null) this.waiting = this.waiting.filter((w) => w.cursorOf !== out.cursorOf)
    this.waiting.push(out)
    void this.reconnect()
  }

  /// Tell the daemon's log (and the file's state) about a message the editor
  /// sent that cannot be passed on.
  private dropped(uri: string | null, reason: string): void {
    this.options.log(`swarmpad client: dropped a message from the editor: ${reason}`)
    if (uri !== null) {
      const r = this.replicas.get(uri)
      if (r !== undefined) r.desynced ??= `a message was dropped: ${reason}`
    }
    this.own(DROPPED, { ...(uri !== null ? { uri } : {}), reason })
  }

  private own(method: string, params: Record<string, unknown>): void {
    const id = `${OWN_ID_PREFIX}${++this.ownId}`
    const text = JSON.stringify({ jsonrpc: '2.0', id, method, params })
    if (this.socket === null) return
    this.unanswered.set(JSON.stringify(id), { method, params, text, forward: false })
    this.socket.send(text)
  }

  // --- the daemon's side ---

  private attach(socket: RelaySocket): void {
    this.socket = socket
    socket.onMessage((text) => this.fromDaemon(text))
    socket.onClose(() => {
      if (this.socket !== socket) return
      this.lost()
    })
    this.own(HELLO, { root: this.options.root })
  }

  private fromDaemon(text: string): void {
    // A change of the document: to the editor first (without parsing it),
    // then into the replica.
    const marked = withoutMark(text)
    if (marked !== null) {
      this.write(marked.text)
      if (marked.mark === 'op') this.replicaOp(parsed(text)?.params)
      return
    }
    const m = parsed(text)
    if (m === null) return
    const mark = m[PRIVATE]
    if (typeof m.method === 'string') {
      if (m.method === 'edit' && mark === 'op') {
        this.write(withoutPrivate(m))
        return this.replicaOp(m.params)
      }
    } else {
      const id = idOf(m.id)
      if (id !== undefined && id !== null) {
        const key = JSON.stringify(id)
        const sent = this.unanswered.get(key)
        if (sent !== undefined) {
          this.unanswered.delete(key)
          this.replicaAnswer(sent, m)
          if (!sent.forward) {
            const error = m.error as { message?: string } | undefined
            if (error !== undefined) this.options.log(`swarmpad client: the daemon refused ${sent.method}: ${error.message ?? '?'}`)
            if (sent.method === RESUME && error !== undefined && typeof sent.params.uri === 'string') this.replicas.delete(sent.params.uri)
            return
          }
        }
      }
    }
    this.write(mark === undefined ? text : withoutPrivate(m))
  }

  /// A new change of the document, sent to the editor.
  private replicaOp(params: unknown): void {
    const p = params as { uri?: unknown; delta?: unknown } | null
    if (p === null || typeof p !== 'object' || typeof p.uri !== 'string') return
    const r = this.replicas.get(p.uri)
    if (r === undefined || r.desynced !== null) return
    const changes = changesOfDelta(r.state.text, p.delta)
    if (typeof changes === 'string') {
      r.desynced = `the client lost track of the file: ${changes}`
      return this.options.log(`swarmpad client: ${p.uri}: ${r.desynced}`)
    }
    r.state.fromDocument(changes)
  }

  /// The daemon answered a request of the editor.
  private replicaAnswer(sent: Sent, m: Record<string, unknown>): void {
    const uri = sent.params.uri
    if (typeof uri !== 'string') return
    if (sent.method === 'open' && m.error === undefined && typeof sent.params.content === 'string') {
      this.replicas.set(uri, { state: new FileState(textOf(sent.params.content)), desynced: null })
    } else if (sent.method === 'edit') {
      const r = this.replicas.get(uri)
      if (r === undefined || r.desynced !== null) return
      if (m[PRIVATE] !== 'applied') {
        r.desynced = (m.error as { message?: string } | undefined)?.message ?? 'an edit was refused'
        return
      }
      const base = r.state.editorText(sent.params.revision)
      const changes = typeof base === 'string' ? base : changesOfDelta(base, sent.params.delta)
      if (typeof changes === 'string') {
        r.desynced = `the client lost track of the file: ${changes}`
        return this.options.log(`swarmpad client: ${uri}: ${r.desynced}`)
      }
      r.state.fromEditor(changes)
    }
  }

  /// The daemon went away (stopped, restarted, crashed): what it did not
  /// answer is sent again to the next one.
  private lost(): void {
    this.socket = null
    if (this.inputEnded) return
    const again: Outgoing[] = [...this.unanswered]
      .filter(([, s]) => s.method === 'open' || s.method === 'edit')
      .map(([key, sent]) => ({ text: sent.text, key, sent, cursorOf: null }))
    this.unanswered.clear()
    this.waiting = [...again, ...this.waiting]
    this.options.log('swarmpad client: lost the daemon; reconnecting')
    void this.reconnect()
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting || this.socket !== null) return
    this.reconnecting = true
    let reported = false
    try {
      while (!this.inputEnded && this.socket === null) {
        // Start a daemon only for something to deliver (`swarmpad stop`
        // with an idle editor stops it; the next keystroke starts it).
        const start = this.waiting.length > 0
        let socket: RelaySocket | null = null
        try {
          socket = await this.options.connect(start)
        } catch (err) {
          if (!reported) this.options.log(`swarmpad client: cannot reach the daemon yet: ${err instanceof Error ? err.message : String(err)}`)
          reported = true
        }
        if (socket !== null) {
          if (this.inputEnded) {
            socket.close()
            return
          }
          this.resume(socket)
          return
        }
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 250))
      }
    } finally {
      this.reconnecting = false
    }
  }

  private resume(socket: RelaySocket): void {
    this.attach(socket)
    for (const [uri, r] of this.replicas) {
      this.own(RESUME, { uri, state: r.state.toJSON(), ...(r.desynced !== null ? { desynced: r.desynced } : {}) })
    }
    const waiting = this.waiting
    this.waiting = []
    for (const out of waiting) this.toDaemon(out)
    this.options.log(`swarmpad client: reconnected; resumed ${this.replicas.size} file(s), sent ${waiting.length} message(s) again`)
  }
}
