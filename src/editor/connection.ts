// One editor connection (one `swarmpad client`, so one editor and one root
// folder): JSON-RPC in and out, its open files, its limits. Messages are
// handled strictly in order; an `open` that reads the disk holds up the ones
// behind it.
import { fileURLToPath } from 'node:url'
import { resolveLinks } from '../storage/paths.js'
import type { OpenDocument } from '../swarmpad.js'
import type { PeerSource } from '../server/peers.js'
import { errorMessage } from '../errors.js'
import type { FoundLink, Link } from './marker.js'
import { FileState } from './ot.js'
import { hasLoneSurrogate, textOf } from './positions.js'
import { FileSession, type SessionHost } from './session.js'
import {
  DROPPED,
  errorResponse,
  HELLO,
  idOf,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  REFUSED,
  response,
  RESUME,
  type Id
} from './rpc.js'

export interface EditorLimits {
  /// Messages a connection may send per second, sustained ...
  rate: number
  /// ... and at once.
  burst: number
  /// Messages waiting behind an `open` (which reads the disk).
  backlog: number
  /// Files one connection holds open.
  files: number
  /// Daemon log lines per connection per LOG_WINDOW_MS (the rest are counted).
  logLines: number
}

export const DEFAULT_LIMITS: EditorLimits = { rate: 5000, burst: 50_000, backlog: 50_000, files: 512, logLines: 20 }
const LOG_WINDOW_MS = 10_000

/// What the editor endpoint needs from the daemon.
export interface EditorServices {
  /// The link of a file (absolute, resolved), or null when none names it.
  resolve(path: string): Promise<FoundLink | null>
  /// The open document a link names.
  openLinked(link: Link, found: FoundLink): Promise<OpenDocument>
  peers: PeerSource
  /// The file mirror of `path` stops writing it until the returned release.
  hold(path: string): () => void
  log(line: string): void
  limits: EditorLimits
}

export interface EditorTransport {
  send(text: string): void
  close(code: number, reason: string): void
}

type Message = { id: Id | undefined; method: string; params: Record<string, unknown> }

class Refusal extends Error {}

export class EditorConnection implements SessionHost {
  readonly label: string
  readonly files = new Map<string, FileSession>()
  private readonly queue: Message[] = []
  /// Messages held back (sendAfterTurn()) and whatever was sent after them.
  private outbox: string[] | null = null
  private running = false
  private disposed = false
  private tokens: number
  private refilled = Date.now()
  private dropped = 0
  private logWindow = 0
  private logCount = 0
  private logSuppressed = 0

  constructor(
    readonly services: EditorServices,
    private readonly transport: EditorTransport,
    id: number
  ) {
    this.label = `editor ${id}`
    this.tokens = services.limits.burst
  }

  /// Nothing received is waiting to be handled, nothing held back to send.
  get idle(): boolean {
    return !this.running && this.queue.length === 0 && this.outbox === null
  }

  get peers(): PeerSource {
    return this.services.peers
  }

  send(text: string): void {
    if (this.disposed) return
    if (this.outbox !== null) this.outbox.push(text)
    else this.transport.send(text)
  }

  /// Send `text` once this turn of the event loop has done its work (in
  /// order: what is sent meanwhile waits behind it). For the answer to an
  /// edit: the document gathers the edits of a turn and hands them to its log
  /// in a setImmediate() that edit() queued before this one, so the block
  /// that carries the keystroke to the other devices is on its way before
  /// the answer is written to the socket.
  sendAfterTurn(text: string): void {
    if (this.disposed) return
    if (this.outbox === null) {
      this.outbox = []
      setImmediate(() => this.flushOutbox())
    }
    this.outbox.push(text)
  }

  private flushOutbox(): void {
    const out = this.outbox
    this.outbox = null
    if (out === null || this.disposed) return
    for (const text of out) this.transport.send(text)
  }

  /// Log a line about this connection, at most `logLines` per window.
  log(line: string): void {
    const now = Date.now()
    if (now - this.logWindow > LOG_WINDOW_MS) {
      if (this.logSuppressed > 0) this.services.log(`${this.label}: ${this.logSuppressed} more lines about this editor were not logged`)
      this.logWindow = now
      this.logCount = 0
      this.logSuppressed = 0
    }
    if (++this.logCount <= this.services.limits.logLines) this.services.log(line)
    else this.logSuppressed++
  }

  /// One message from the editor (a text frame); null: not text.
  receive(text: string | null): void {
    if (this.disposed) return
    if (text === null) {
      this.log(`${this.label}: dropped a binary message (the protocol is JSON text)`)
      return this.send(errorResponse(null, INVALID_REQUEST, 'messages must be JSON text'))
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      this.log(`${this.label}: dropped a message that is not JSON`)
      return this.send(errorResponse(null, PARSE_ERROR, 'the message is not JSON'))
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      this.log(`${this.label}: dropped a message that is not a JSON-RPC object${Array.isArray(json) ? ' (batches are not supported)' : ''}`)
      return this.send(errorResponse(null, INVALID_REQUEST, Array.isArray(json) ? 'batches are not supported' : 'a message must be a JSON-RPC object'))
    }
    const m = json as { id?: unknown; method?: unknown; params?: unknown }
    const id = 'id' in m ? idOf(m.id) : undefined
    if (typeof m.method !== 'string') {
      // A response to a notification of ours, or nonsense: nothing to answer.
      if (!('result' in m) && !('error' in m)) {
        this.log(`${this.label}: dropped a message without a method`)
        this.send(errorResponse(id ?? null, INVALID_REQUEST, 'a request needs a method'))
      }
      return
    }
    if ('id' in m && id === undefined) {
      this.log(`${this.label}: dropped ${m.method}: its id is not a number, a string or null`)
      return this.send(errorResponse(null, INVALID_REQUEST, 'an id must be a number, a string or null'))
    }
    const params = m.params === undefined ? {} : m.params
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      this.log(`${this.label}: dropped ${m.method}: params is not an object`)
      if (id !== undefined) this.send(errorResponse(id, INVALID_PARAMS, 'params must be an object'))
      return
    }
    const msg: Message = { id, method: m.method, params: params as Record<string, unknown> }
    if (!this.take() || this.queue.length >= this.services.limits.backlog) return this.flooded(msg)
    this.queue.push(msg)
    this.pump()
  }

  /// Token bucket: `rate` messages per second, `burst` at once.
  private take(): boolean {
    const now = Date.now()
    const { rate, burst } = this.services.limits
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilled) / 1000) * rate)
    this.refilled = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }

  private flooded(msg: Message): void {
    this.dropped++
    const reason = `more than ${this.services.limits.rate} messages per second`
    if (this.dropped === 1 || this.dropped % 1000 === 0) this.log(`${this.label}: dropped ${this.dropped} message(s): ${reason}`)
    if (msg.method === 'edit' && typeof msg.params.uri === 'string') this.files.get(msg.params.uri)?.desync(`an edit was dropped: ${reason}`)
    if (msg.id !== undefined) this.send(errorResponse(msg.id, REFUSED, `too many messages (${reason}); this one was dropped`))
  }

  private pump(): void {
    if (this.running) return
    this.running = true
    void (async () => {
      try {
        while (this.queue.length > 0 && !this.disposed) {
          const msg = this.queue.shift()!
          try {
            const pending = this.handle(msg)
            if (pending !== undefined) await pending
          } catch (err) {
            this.fail(msg, err)
          }
        }
      } finally {
        this.running = false
      }
    })()
  }

  private fail(msg: Message, err: unknown): void {
    const refusal = err instanceof Refusal
    if (!refusal) this.services.log(`${this.label}: internal error on ${msg.method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    else this.log(`${this.label}: ${msg.method} refused: ${errorMessage(err)}`)
    if (msg.id !== undefined) this.send(errorResponse(msg.id, REFUSED, errorMessage(err)))
  }

  private answer(id: Id | undefined, result: unknown = 'success'): void {
    if (id !== undefined) this.send(response(id, result))
  }

  private invalid(msg: Message, why: string): void {
    this.log(`${this.label}: ${msg.method} refused: ${why}`)
    if (msg.id !== undefined) this.send(errorResponse(msg.id, INVALID_PARAMS, why))
  }

  private handle(msg: Message): Promise<void> | undefined {
    const { id, params } = msg
    switch (msg.method) {
      case 'open':
        return this.openFile(msg)
      case RESUME:
        return this.resumeFile(msg)
      case 'close': {
        if (typeof params.uri !== 'string') return void this.invalid(msg, 'uri must be a string')
        const session = this.files.get(params.uri)
        this.files.delete(params.uri)
        session?.close()
        return void this.answer(id)
      }
      case 'edit': {
        if (typeof params.uri !== 'string') return void this.invalid(msg, 'uri must be a string')
        const session = this.files.get(params.uri)
        if (session === undefined) {
          this.log(`${this.label}: edit of ${params.uri}, which is not open`)
          if (id !== undefined) this.send(errorResponse(id, REFUSED, `${params.uri} is not open here; open it first`))
          return
        }
        return void session.edit(id, params)
      }
      case 'cursor': {
        if (typeof params.uri !== 'string') return void this.invalid(msg, 'uri must be a string')
        const session = this.files.get(params.uri)
        // A cursor in a file that is not open is nobody's business: dropped.
        const problem = session?.cursor(params.ranges) ?? null
        if (problem !== null) return void this.invalid(msg, `cursor: ${problem}`)
        return void this.answer(id)
      }
      case HELLO:
        this.services.log(`${this.label}: swarmpad client in ${typeof params.root === 'string' ? params.root : '?'}`)
        return void this.answer(id)
      case DROPPED: {
        const reason = typeof params.reason === 'string' ? params.reason.slice(0, 300) : 'no reason given'
        this.log(`${this.label}: swarmpad client dropped a message from the editor: ${reason}`)
        if (typeof params.uri === 'string') this.files.get(params.uri)?.desync(`the client dropped a message: ${reason}`)
        return void this.answer(id)
      }
      default:
        this.log(`${this.label}: dropped ${msg.id !== undefined ? 'a request' : 'a notification'} of an unknown method ${JSON.stringify(msg.method.slice(0, 60))}`)
        if (id !== undefined) this.send(errorResponse(id, METHOD_NOT_FOUND, `unknown method ${JSON.stringify(msg.method.slice(0, 60))}`))
    }
  }

  private async openFile(msg: Message): Promise<void> {
    const { uri, content } = msg.params
    if (typeof uri !== 'string') return this.invalid(msg, 'uri must be a string')
    if (typeof content !== 'string') return this.invalid(msg, 'content must be a string')
    if (hasLoneSurrogate(content)) return this.invalid(msg, 'content holds a lone surrogate')
    const { path, open } = await this.locate(uri)
    this.startSession(msg.id, uri, path, open, new FileState(textOf(content)))
  }

  /// After the daemon restarted, `swarmpad client` puts back a file's state
  /// as it was (its replica of this state machine): the editor goes on.
  private async resumeFile(msg: Message): Promise<void> {
    const { uri, state, desynced } = msg.params
    if (typeof uri !== 'string') return this.invalid(msg, 'uri must be a string')
    const resumed = FileState.fromJSON(state, textOf)
    if (typeof resumed === 'string') return this.invalid(msg, `state: ${resumed}`)
    const { path, open } = await this.locate(uri)
    const session = this.startSession(msg.id, uri, path, open, resumed)
    if (typeof desynced === 'string') session.desync(desynced)
    this.log(`${this.label}: resumed ${path} at editor revision ${resumed.editorRevision}, daemon revision ${resumed.daemonRevision}`)
  }

  private startSession(id: Id | undefined, uri: string, path: string, open: OpenDocument, state: FileState): FileSession {
    if (!this.files.has(uri) && this.files.size >= this.services.limits.files) {
      throw new Refusal(`this editor holds ${this.files.size} files open already (at most ${this.services.limits.files})`)
    }
    this.files.get(uri)?.close()
    const session = new FileSession(this, uri, path, open, state)
    this.files.set(uri, session)
    // The answer first: the editor starts following the file on it, then
    // takes the edits that make its text the document's.
    this.answer(id)
    session.start((p) => this.services.hold(p))
    return session
  }

  /// The file a URI names, and its open document; refused unless a marker links it.
  private async locate(uri: string): Promise<{ path: string; open: OpenDocument }> {
    if (!uri.startsWith('file:')) throw new Refusal(`${uri.slice(0, 200)} is not a file: URI; swarmpad edits local files only`)
    let path: string
    try {
      path = fileURLToPath(uri)
    } catch (err) {
      throw new Refusal(`${uri.slice(0, 200)} is not a usable file URI (${errorMessage(err)})`)
    }
    path = await resolvedPath(path)
    let found: FoundLink | null
    try {
      found = await this.services.resolve(path)
    } catch (err) {
      throw new Refusal(errorMessage(err))
    }
    if (found === null) throw new Refusal(`${path} is not linked to a swarmpad document: run \`swarmpad link NAME ${path}\` (it writes .swarmpad/ in that folder)`)
    try {
      return { path, open: await this.services.openLinked(found.link, found) }
    } catch (err) {
      throw new Refusal(`${found.file} in ${found.root}: ${errorMessage(err)}`)
    }
  }

  /// The transport closed: release every file.
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.queue.length = 0
    for (const s of this.files.values()) s.close()
    this.files.clear()
  }

  /// The daemon is stopping: close the transport after what was sent.
  shutdown(code: number, reason: string): void {
    this.flushOutbox()
    this.dispose()
    this.transport.close(code, reason)
  }
}

/// `path` with symbolic links resolved (the file itself may not exist yet).
async function resolvedPath(path: string): Promise<string> {
  return (await resolveLinks(path)) ?? path
}
