// The daemon's editor endpoint: every `swarmpad client` connects to the
// WebSocket `/editor` with the command's token and relays its editor's
// messages, one JSON-RPC message per text frame.
import type { IncomingMessage } from 'node:http'
import type { RawData, WebSocket } from 'ws'
import type { OpenDocument } from '../swarmpad.js'
import type { PeerSource } from '../server/peers.js'
import { EditorConnection, DEFAULT_LIMITS, type EditorLimits, type EditorServices, type EditorTransport } from './connection.js'
import { findLink, type FoundLink, type Link } from './marker.js'

/// The WebSocket path `swarmpad client` connects to.
export const EDITOR_SOCKET_PATH = '/editor'

/// A client that does not read what it is sent holds this much at most.
const MAX_BUFFERED = 64 * 1024 * 1024

export interface EditorHubOptions {
  openLinked(link: Link, found: FoundLink): Promise<OpenDocument>
  peers: PeerSource
  log(line: string): void
  /// Hold the file mirror of a path while editors have it open, or give it
  /// back when the last one closed it (default: there are no mirrors).
  hold?(path: string, held: boolean): void
  /// Find a file's link (default: the `.swarmpad/` markers on disk).
  resolve?(path: string): Promise<FoundLink | null>
  limits?: Partial<EditorLimits>
}

export class EditorHub {
  private readonly services: EditorServices
  private readonly connections = new Set<EditorConnection>()
  private nextId = 1
  /// Open sessions per path.
  private readonly holders = new Map<string, number>()
  closed = false

  constructor(options: EditorHubOptions) {
    const hold = (path: string): (() => void) => {
      const n = this.holders.get(path) ?? 0
      this.holders.set(path, n + 1)
      if (n === 0) options.hold?.(path, true)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (this.holders.get(path) ?? 1) - 1
        if (left > 0) return void this.holders.set(path, left)
        this.holders.delete(path)
        options.hold?.(path, false)
      }
    }
    this.services = {
      resolve: options.resolve ?? findLink,
      openLinked: options.openLinked,
      peers: options.peers,
      hold,
      log: options.log,
      limits: { ...DEFAULT_LIMITS, ...options.limits }
    }
  }

  /// Open files across all connections.
  get openFiles(): number {
    let n = 0
    for (const c of this.connections) n += c.files.size
    return n
  }

  /// A connection over any transport (a test's, or a socket's).
  connect(transport: EditorTransport): EditorConnection {
    const conn = new EditorConnection(this.services, transport, this.nextId++)
    if (this.closed) {
      conn.shutdown(1001, 'swarmpad is stopping')
      return conn
    }
    this.connections.add(conn)
    return conn
  }

  /// Serve one WebSocket. Only the command's token opens it (LocalServer
  /// also lets the page's credential upgrade; the page has no business here:
  /// editors name files on disk).
  handleSocket(ws: WebSocket, req: IncomingMessage, tokenMatches: (token: string | null) => boolean): void {
    const auth = req.headers.authorization
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : null
    if (!tokenMatches(token)) {
      ws.close(1008, 'the editor endpoint takes the command token only (run `swarmpad client`)')
      return
    }
    const conn = this.connect({
      send: (text) => {
        if (ws.bufferedAmount > MAX_BUFFERED) {
          this.services.log(`${conn.label}: the client does not read what it is sent; closing it`)
          ws.terminate()
          return
        }
        ws.send(text)
      },
      close: (code, reason) => ws.close(code, reason)
    })
    ws.on('message', (data: RawData, isBinary: boolean) => conn.receive(isBinary ? null : rawText(data)))
    const gone = () => {
      conn.dispose()
      this.connections.delete(conn)
    }
    ws.on('close', gone)
    ws.on('error', gone)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const c of this.connections) c.shutdown(1001, 'swarmpad is stopping')
    this.connections.clear()
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}
