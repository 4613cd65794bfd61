// The page's one WebSocket to the daemon: reconnects forever with backoff,
// numbers requests and matches their replies. It authenticates with the
// page's credential (credential.ts) as a WebSocket subprotocol; the page never
// sees the command's token.
import { CLOSE_VERSION, PAGE_VERSION_PROTOCOL, type ServerMessage } from '../server/protocol.js'
import { credentialValid, pageCredential } from './credential.js'

/// `outdated`: the daemon speaks another page protocol version (swarmpad was
/// upgraded while this tab was open): the page must be reloaded.
export type SocketState = 'connecting' | 'open' | 'closed' | 'unauthorized' | 'outdated'

/// Replies that answer a request by its rid.
type Reply = Extract<ServerMessage, { rid?: number }>

export class PageSocket {
  private ws: WebSocket | null = null
  private rid = 0
  private readonly waiting = new Map<number, { resolve: (m: ServerMessage) => void; reject: (e: Error) => void; timer: number }>()
  private delay = 200
  private timer: number | null = null
  state: SocketState = 'connecting'
  /// The last close code and reason (shown when the server closed us).
  lastClose: { code: number; reason: string } | null = null

  constructor(
    private readonly onMessage: (msg: ServerMessage) => void,
    private readonly onOpen: () => void,
    private readonly onState: (state: SocketState) => void
  ) {}

  start(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
    const credential = pageCredential()
    const ws = new WebSocket(url, credential === null ? ['swarmpad', PAGE_VERSION_PROTOCOL] : ['swarmpad', PAGE_VERSION_PROTOCOL, `swarmpad.auth.${credential}`])
    this.ws = ws
    this.setState('connecting')
    ws.onopen = () => {
      this.delay = 200
      this.setState('open')
      this.onOpen()
    }
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return
      let msg: ServerMessage
      try {
        msg = JSON.parse(ev.data) as ServerMessage
      } catch {
        return
      }
      const rid = (msg as Reply).rid
      if (typeof rid === 'number' && msg.type !== 'ack') {
        const w = this.waiting.get(rid)
        if (w) {
          this.waiting.delete(rid)
          clearTimeout(w.timer)
          if (msg.type === 'error') w.reject(Object.assign(new Error(msg.message), { code: msg.code }))
          else w.resolve(msg)
          return
        }
      }
      this.onMessage(msg)
    }
    ws.onclose = (ev) => {
      if (this.ws !== ws) return
      this.ws = null
      this.lastClose = { code: ev.code, reason: ev.reason }
      for (const [, w] of this.waiting) {
        clearTimeout(w.timer)
        w.reject(new Error('disconnected from swarmpad'))
      }
      this.waiting.clear()
      if (ev.code === CLOSE_VERSION) {
        // Retrying cannot help: this page's code is not the daemon's.
        this.setState('outdated')
        return
      }
      void this.afterClose()
    }
  }

  /// Find out why we could not connect (a daemon that restarted has a new
  /// page credential: the page must be opened again with `swarmpad open`),
  /// then retry.
  private async afterClose(): Promise<void> {
    let unauthorized = false
    try {
      unauthorized = !(await credentialValid(pageCredential()))
    } catch {
      // the daemon is not running (yet)
    }
    this.setState(unauthorized ? 'unauthorized' : 'closed')
    this.timer = window.setTimeout(() => {
      this.timer = null
      this.start()
    }, this.delay)
    this.delay = Math.min(3000, this.delay * 2)
  }

  private setState(s: SocketState): void {
    if (this.state === s) return
    this.state = s
    this.onState(s)
  }

  get open(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN
  }

  nextRid(): number {
    return ++this.rid
  }

  send(data: string): boolean {
    if (!this.open) return false
    this.ws!.send(data)
    return true
  }

  /// Send a message with a fresh rid and wait for its reply.
  request<T extends ServerMessage = ServerMessage>(msg: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.open) return reject(new Error('not connected to swarmpad'))
      const rid = this.nextRid()
      const timer = window.setTimeout(() => {
        this.waiting.delete(rid)
        reject(new Error('swarmpad did not answer in time'))
      }, timeoutMs)
      this.waiting.set(rid, { resolve: resolve as (m: ServerMessage) => void, reject, timer })
      this.ws!.send(JSON.stringify({ ...msg, rid }))
    })
  }

  /// Reconnect now (after the user fixed something).
  retry(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
      this.start()
    }
  }
}
