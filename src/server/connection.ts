import type { CollabHub, Transport } from './collab.js'
import type { DocAuthority } from './authority.js'
import type { RawData } from 'ws'
import type { OpenDocument } from '../swarmpad.js'
import { errorMessage, SwarmpadError, type ErrorCode } from '../errors.js'
import {
  BYTES_BURST,
  BYTES_PER_SECOND,
  CLOSE_INVALID,
  CLOSE_POLICY,
  MAX_BUFFERED_BYTES,
  MAX_QUEUE,
  MESSAGE_BURST,
  MESSAGES_PER_SECOND,
  parseClientMessage,
  PAUSE_QUEUE,
  type ClientMessage,
  type ServerMessage
} from './protocol.js'

/// One tab's membership in one document (a connection may join several).
export class Tab {
  readonly conn: Connection
  readonly authority: DocAuthority
  /// The document reference the tab used (echoed in every message).
  readonly ref: string
  readonly clientID: string
  /// Versions below this were sent to the tab.
  sent = 0
  ready = false
  closed = false
  /// The tab's cursor in the authority's current text.
  cursor: { anchor: number; head: number } | null = null

  constructor(conn: Connection, authority: DocAuthority, ref: string, clientID: string) {
    this.conn = conn
    this.authority = authority
    this.ref = ref
    this.clientID = clientID
  }
}

type QueuedMessage = { msg: ClientMessage }

/// One page connection: validation, rate limits, ordering, its tabs.
export class Connection {
  readonly hub: CollabHub
  private readonly transport: Transport
  private readonly tabs = new Map<string, Tab>()
  private msgTokens = MESSAGE_BURST
  private byteTokens = BYTES_BURST
  private refilled = Date.now()
  private queue: QueuedMessage[] = []
  private running = false
  private paused = false
  closed = false

  constructor(hub: CollabHub, transport: Transport) {
    this.hub = hub
    this.transport = transport
  }

  /// One frame from the page: its text, or null for a binary frame.
  receive(data: string | null): void {
    if (this.closed) return
    if (data === null) return this.close(CLOSE_INVALID, 'binary: only JSON text frames are accepted')
    if (!this.take(data.length)) return
    const parsed = parseClientMessage(data)
    if (!parsed.ok) return this.close(parsed.code, parsed.reason)
    // Typing (pushes, cursors) is handled at once when nothing waits before it.
    if (!this.running && this.queue.length === 0 && this.handleNow(parsed.message)) return
    this.queue.push({ msg: parsed.message })
    if (this.queue.length > MAX_QUEUE) return this.close(CLOSE_POLICY, `flood: more than ${MAX_QUEUE} requests waiting`)
    if (this.queue.length > PAUSE_QUEUE && !this.paused && this.transport.pause) {
      this.paused = true
      this.transport.pause()
    }
    if (!this.running) void this.run()
  }

  /// Token buckets: messages and bytes per second.
  private take(bytes: number): boolean {
    const now = Date.now()
    const dt = (now - this.refilled) / 1000
    this.refilled = now
    this.msgTokens = Math.min(MESSAGE_BURST, this.msgTokens + dt * MESSAGES_PER_SECOND)
    this.byteTokens = Math.min(BYTES_BURST, this.byteTokens + dt * BYTES_PER_SECOND)
    this.msgTokens -= 1
    this.byteTokens -= bytes
    if (this.msgTokens < 0) {
      this.close(CLOSE_POLICY, `rate-limit: more than ${MESSAGES_PER_SECOND} messages per second`)
      return false
    }
    if (this.byteTokens < 0) {
      this.close(CLOSE_POLICY, `rate-limit: more than ${BYTES_PER_SECOND} bytes per second`)
      return false
    }
    return true
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        const { msg } = this.queue.shift()!
        if (this.paused && this.queue.length <= PAUSE_QUEUE / 2) {
          this.paused = false
          this.transport.resume?.()
        }
        try {
          await this.handle(msg)
        } catch (err) {
          this.replyError(msg, err)
        }
      }
    } finally {
      this.running = false
    }
  }

  private replyError(msg: ClientMessage, err: unknown): void {
    const code: ErrorCode = err instanceof SwarmpadError ? err.code : 'INTERNAL'
    const out: ServerMessage = { type: 'error', code, message: errorMessage(err) }
    if ('rid' in msg && typeof msg.rid === 'number') out.rid = msg.rid
    if ('doc' in msg) out.doc = msg.doc
    this.send(out)
  }

  /// Handle a message that needs no waiting; false if it does.
  private handleNow(msg: ClientMessage): boolean {
    if (msg.type !== 'push' && msg.type !== 'presence' && msg.type !== 'leave') return false
    try {
      if (msg.type === 'leave') {
        const tab = this.tabs.get(msg.doc)
        if (tab) this.dropTab(tab)
        return true
      }
      const tab = this.tabOf(msg)
      if (msg.type === 'push') tab.authority.push(tab, msg)
      else tab.authority.presence(tab, msg)
    } catch (err) {
      this.replyError(msg, err)
    }
    return true
  }

  private tabOf(msg: ClientMessage & { doc: string }): Tab {
    const tab = this.tabs.get(msg.doc)
    if (tab !== undefined) return tab
    const known = this.hub.swarmpad.library.find(msg.doc) !== undefined
    throw new SwarmpadError('DOC_NOT_FOUND', known ? `join "${msg.doc}" before sending ${msg.type}` : `no document named "${msg.doc}"`)
  }

  private async handle(msg: ClientMessage): Promise<void> {
    const hub = this.hub
    if (this.handleNow(msg)) return
    switch (msg.type) {
      case 'documents':
        this.send({ type: 'documents', ...(msg.rid !== undefined ? { rid: msg.rid } : {}), documents: hub.documentList() })
        return
      case 'create': {
        const open = await hub.swarmpad.create(msg.name)
        hub.authority(open)
        this.send({ type: 'result', rid: msg.rid, value: { name: open.entry.name, key: open.entry.key } })
        hub.broadcastDocuments()
        return
      }
      case 'join':
        await this.join(msg)
        return
      case 'leave':
      case 'push':
      case 'presence':
        return // handled by handleNow()
      default: {
        const tab = this.tabOf(msg)
        this.send(await tab.authority.request(tab, msg))
      }
    }
  }

  private async join(msg: Extract<ClientMessage, { type: 'join' }>): Promise<void> {
    const old = this.tabs.get(msg.doc)
    if (old) this.dropTab(old)
    let open: OpenDocument
    try {
      open = await this.hub.swarmpad.open(msg.doc)
    } catch (err) {
      this.send({ type: 'error', doc: msg.doc, code: err instanceof SwarmpadError ? err.code : 'INTERNAL', message: errorMessage(err) })
      return
    }
    if (this.closed) return
    const authority = this.hub.authority(open)
    const tab = new Tab(this, authority, msg.doc, msg.clientID)
    this.tabs.set(msg.doc, tab)
    await authority.join(tab, msg.resume, msg.nextSeq ?? 0, msg.jid)
  }

  dropTab(tab: Tab): void {
    tab.closed = true
    if (this.tabs.get(tab.ref) === tab) this.tabs.delete(tab.ref)
    tab.authority.leave(tab)
  }

  send(msg: ServerMessage): void {
    this.sendRaw(JSON.stringify(msg))
  }

  sendRaw(data: string): void {
    if (this.closed) return
    try {
      this.transport.send(data)
    } catch {
      return this.close()
    }
    if (this.transport.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.close(CLOSE_POLICY, 'slow-consumer: the page does not read its messages')
    }
  }

  /// Close: with a code and reason, the transport too (without, it closed
  /// already); the tabs leave their documents.
  close(code?: number, reason = ''): void {
    if (this.closed) return
    if (code !== undefined) {
      // A paused socket could not read the page's answer to the close.
      if (this.paused) this.transport.resume?.()
      try {
        this.transport.close(code, reason.slice(0, 120))
      } catch {
        // already closed
      }
    }
    this.closed = true
    this.queue = []
    for (const tab of [...this.tabs.values()]) this.dropTab(tab)
    this.hub.forget(this)
  }
}

// --- helpers ---

export function rawToString(data: RawData): string {
  if (typeof data === 'string') return data
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return (data as Buffer).toString('utf8')
}
