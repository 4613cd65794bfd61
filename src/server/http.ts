import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Resource } from '../resource.js'
import { SwarmpadError, type ErrorCode } from '../errors.js'
import { CLOSE_VERSION, PAGE_VERSION_PROTOCOL } from './protocol.js'

/// Largest JSON request body the API reads.
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024

/// Largest WebSocket message a socket handler receives (larger frames close
/// the socket with 1009 before they are buffered).
export const MAX_SOCKET_MESSAGE = 8 * 1024 * 1024

/// The WebSocket subprotocol of the page, and the prefix of the second
/// subprotocol that carries the page's credential (browsers cannot set
/// headers on a WebSocket; a subprotocol is the one they send).
export const PAGE_PROTOCOL = 'swarmpad'
export const PAGE_AUTH_PROTOCOL_PREFIX = 'swarmpad.auth.'
/// The header the page proves its credential with on its few HTTP requests.
export const PAGE_AUTH_HEADER = 'x-swarmpad-page'
/// How long a login ticket from `swarmpad open` stays valid (it works once).
export const TICKET_TTL_MS = 120_000
const MAX_TICKETS = 64

export interface LocalServerOptions {
  /// 0 picks a free port.
  port: number
  /// The command's secret (`Authorization: Bearer`, from daemon.json): the
  /// only credential the JSON API takes.
  token: string
  /// Directory of the bundled page (dist/web); paths outside it are refused.
  staticDir: string
}

/// A JSON API handler: receives the parsed body (or null) and the URL.
export type ApiHandler = (body: unknown, url: URL, req: IncomingMessage) => Promise<unknown>

/// A long-lived API handler that writes to the response itself (for streaming progress).
export type RawHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

export type SocketHandler = (socket: WebSocket, url: URL, req: IncomingMessage) => void

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  USAGE: 400,
  BAD_ARGUMENT: 400,
  BAD_CHANGE: 400,
  INVALID_KEY: 400,
  INVALID_INVITE: 400,
  DOC_NOT_FOUND: 404,
  DOC_EXISTS: 409,
  NOT_WRITABLE: 403,
  NOT_OWNER: 403,
  MOVED: 409,
  STALE_VERSION: 409,
  TOO_LARGE: 413,
  UPGRADE_REQUIRED: 426,
  INVITE_USED: 410,
  INVITE_EXPIRED: 410,
  INVITE_CANCELLED: 410,
  PAIRING_REJECTED: 403,
  TIMEOUT: 504
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json'
}

/// The daemon's local HTTP + WebSocket server on 127.0.0.1.
///
/// Two credentials, for two kinds of client. The command's token (bearer,
/// from daemon.json, mode 0600) opens the JSON API (`/api/...`), which alone
/// takes paths on disk. The page has its own credential, random at every
/// start of this server and never written anywhere: the page gets it by
/// redeeming a single-use ticket that expires after two minutes
/// (`/login#ticket=...`, from `swarmpad open`), keeps it in its origin's
/// localStorage (origins include the port, so no server on another port of
/// 127.0.0.1 can read it; there is no cookie, which browsers would send to
/// every port), and shows it only to the WebSocket `/ws`. Every request
/// needs a Host of 127.0.0.1 or localhost on our port (no DNS rebinding), and
/// one with an Origin must come from that same origin. The page's files are
/// public (they hold no data); only files inside `staticDir` are served.
export class LocalServer extends Resource<{ 'internal-error': [err: unknown] }> {
  private server!: Server
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_SOCKET_MESSAGE,
    handleProtocols: (offered: Set<string>) => (offered.has(PAGE_PROTOCOL) ? PAGE_PROTOCOL : false)
  })
  private readonly api = new Map<string, ApiHandler>()
  private readonly raw = new Map<string, RawHandler>()
  private readonly sockets = new Map<string, SocketHandler>()
  private readonly options: LocalServerOptions
  /// The page's credential: random per server, so per daemon start.
  private readonly pageKey = randomBytes(32).toString('base64url')
  /// Unredeemed login tickets -> when they expire.
  private readonly tickets = new Map<string, number>()
  port = 0

  constructor(options: LocalServerOptions) {
    super()
    this.options = options
  }

  /// The base URL, e.g. http://127.0.0.1:41234
  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /// A single-use login ticket for the page, valid for TICKET_TTL_MS.
  issueTicket(): string {
    const now = Date.now()
    for (const [t, expires] of this.tickets) if (expires <= now) this.tickets.delete(t)
    while (this.tickets.size >= MAX_TICKETS) this.tickets.delete(this.tickets.keys().next().value!)
    const ticket = randomBytes(24).toString('base64url')
    this.tickets.set(ticket, now + TICKET_TTL_MS)
    return ticket
  }

  /// The address that logs a browser in to `next` (a path of the page):
  /// the ticket is in the fragment, which browsers never send to a server.
  loginUrl(next: string): string {
    return `${this.origin}/login#ticket=${this.issueTicket()}&next=${encodeURIComponent(next)}`
  }

  private redeemTicket(ticket: unknown): boolean {
    if (typeof ticket !== 'string') return false
    const expires = this.tickets.get(ticket)
    if (expires === undefined) return false
    this.tickets.delete(ticket)
    return expires > Date.now()
  }

  /// Register a JSON API route: `method` + exact `path` (e.g. 'POST', '/api/new').
  route(method: string, path: string, handler: ApiHandler): void {
    this.api.set(`${method} ${path}`, handler)
  }

  /// Register a route that writes its own response (streaming).
  rawRoute(method: string, path: string, handler: RawHandler): void {
    this.raw.set(`${method} ${path}`, handler)
  }

  /// Register a WebSocket endpoint at an exact path (e.g. '/ws').
  socket(path: string, handler: SocketHandler): void {
    this.sockets.set(path, handler)
  }

  protected override async _open(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => this.fail(res, err))
    })
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(new SwarmpadError('PORT_IN_USE', `port ${this.options.port} is already in use; choose another with --port, or --port 0 for any free port`))
        } else reject(err)
      }
      this.server.once('error', onError)
      this.server.listen(this.options.port, '127.0.0.1', () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    const address = this.server.address()
    this.port = typeof address === 'object' && address !== null ? address.port : 0
  }

  protected override async _close(): Promise<void> {
    for (const client of this.wss.clients) client.close(1001, 'swarmpad is stopping')
    await new Promise<void>((resolve) => {
      if (!this.server?.listening) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
    for (const client of this.wss.clients) client.terminate()
    this.wss.close()
  }

  // --- checks every request passes ---

  /// Host must name us: 127.0.0.1 or localhost on our port (blocks DNS rebinding).
  private hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`
  }

  /// A browser request from another site carries its Origin: refuse it.
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (origin === undefined) return true
    return origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`
  }

  private bearerOf(req: IncomingMessage): string | null {
    const auth = req.headers.authorization
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim()
    return null
  }

  /// The page credential a WebSocket upgrade offers as a subprotocol.
  private pageKeyOfUpgrade(req: IncomingMessage): string | null {
    for (const v of this.offeredProtocols(req)) if (v.startsWith(PAGE_AUTH_PROTOCOL_PREFIX)) return v.slice(PAGE_AUTH_PROTOCOL_PREFIX.length)
    return null
  }

  tokenMatches(candidate: string | null): boolean {
    return secretEquals(candidate, this.options.token)
  }

  private pageKeyMatches(candidate: string | null): boolean {
    return secretEquals(candidate, this.pageKey)
  }

  private securityHeaders(res: ServerResponse): void {
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'self'; connect-src 'self' ws://127.0.0.1:${this.port} ws://localhost:${this.port}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`
    )
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.securityHeaders(res)
    if (!this.hostAllowed(req)) return this.plain(res, 403, 'forbidden host')
    if (!this.originAllowed(req)) return this.plain(res, 403, 'forbidden origin')
    const url = new URL(req.url ?? '/', this.origin)

    // The page trades a ticket for its credential: only from a page of this
    // origin (a browser always sends Origin on a POST fetch; a form or a
    // page elsewhere cannot send JSON without a preflight we never answer).
    if (url.pathname === '/page/redeem' && req.method === 'POST') {
      if (req.headers.origin === undefined) return this.plain(res, 403, 'forbidden: no Origin')
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return this.plain(res, 415, 'expected application/json')
      const body = await readJson(req)
      const ticket = body !== null && typeof body === 'object' ? (body as { ticket?: unknown }).ticket : undefined
      if (!this.redeemTicket(ticket)) {
        return this.json(res, 401, { error: { code: 'UNAUTHORIZED', message: 'this address was used already or is more than two minutes old: run `swarmpad open` again' } })
      }
      return this.json(res, 200, { credential: this.pageKey })
    }
    // Whether the page's credential is still good (after a restart it is not).
    if (url.pathname === '/page/session' && (req.method === 'GET' || req.method === 'HEAD')) {
      const given = req.headers[PAGE_AUTH_HEADER]
      const good = this.pageKeyMatches(typeof given === 'string' ? given : null)
      res.writeHead(good ? 204 : 401, { 'Cache-Control': 'no-store' })
      return void res.end()
    }

    const key = `${req.method} ${url.pathname}`
    const isApi = url.pathname.startsWith('/api/') || this.raw.has(key) || this.api.has(key)
    if (isApi && !this.tokenMatches(this.bearerOf(req))) {
      return this.json(res, 401, { error: { code: 'UNAUTHORIZED', message: 'missing or wrong token (the API is for the swarmpad command; see daemon.json)' } })
    }
    const rawHandler = this.raw.get(key)
    if (rawHandler) return rawHandler(req, res, url)
    const handler = this.api.get(key)
    if (handler) {
      const body = req.method === 'GET' || req.method === 'HEAD' ? null : await readJson(req)
      const result = await handler(body, url, req)
      return this.json(res, 200, result ?? { ok: true })
    }
    if (url.pathname.startsWith('/api/')) return this.json(res, 404, { error: { code: 'NOT_FOUND', message: `no API ${key}` } })
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.plain(res, 405, 'method not allowed')
    return this.serveStatic(res, url.pathname)
  }

  private async serveStatic(res: ServerResponse, pathname: string): Promise<void> {
    // Without a trailing separator, so the containment check below works for 'dist/web/' too.
    const root = normalize(this.options.staticDir).replace(/(.)[\\/]+$/, '$1')
    let rel: string
    try {
      rel = decodeURIComponent(pathname)
    } catch {
      return this.plain(res, 400, 'bad path')
    }
    if (rel.includes('\0')) return this.plain(res, 404, 'not found')
    // Page routes (/, /doc/NAME) all load the one page (a name may end in ".md").
    const isAsset = !rel.startsWith('/doc/') && /\.[a-z0-9]+$/i.test(rel)
    const file = isAsset ? normalize(join(root, rel)) : join(root, 'index.html')
    if (file !== root && !file.startsWith(root + sep)) return this.plain(res, 404, 'not found')
    try {
      const info = await stat(file)
      if (!info.isFile()) return this.plain(res, 404, 'not found')
      const body = await readFile(file)
      res.writeHead(200, {
        'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': isAsset ? 'no-cache' : 'no-store'
      })
      res.end(body)
    } catch {
      this.plain(res, 404, 'not found')
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string) => {
      socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      socket.destroy()
    }
    if (!this.hostAllowed(req)) return refuse(403, 'Forbidden')
    if (!this.originAllowed(req)) return refuse(403, 'Forbidden')
    if (!this.tokenMatches(this.bearerOf(req)) && !this.pageKeyMatches(this.pageKeyOfUpgrade(req))) return refuse(401, 'Unauthorized')
    const url = new URL(req.url ?? '/', this.origin)
    const handler = this.sockets.get(url.pathname)
    if (!handler) return refuse(404, 'Not Found')
    const offered = this.offeredProtocols(req)
    // The page's protocol version: a page (it authenticates with the page
    // credential) must offer ours; any client that offers a version must
    // offer ours. Otherwise it is closed at once with CLOSE_VERSION, which
    // the page answers by asking to be reloaded.
    const versions = offered.filter((p) => p.startsWith('swarmpad.v'))
    const asPage = !this.tokenMatches(this.bearerOf(req))
    const wrongVersion = (asPage || versions.length > 0) && !versions.includes(PAGE_VERSION_PROTOCOL)
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (wrongVersion) {
        ws.close(CLOSE_VERSION, `version: this page speaks ${versions.join(', ') || 'no version'} of the page protocol, swarmpad speaks ${PAGE_VERSION_PROTOCOL}; reload the page`)
        return
      }
      handler(ws, url, req)
    })
  }

  private offeredProtocols(req: IncomingMessage): string[] {
    const header = req.headers['sec-websocket-protocol']
    return typeof header === 'string' ? header.split(',').map((p) => p.trim()) : []
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    if (res.headersSent) return void res.end()
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
    res.end(text + '\n')
  }

  json(res: ServerResponse, status: number, value: unknown): void {
    if (res.headersSent) return void res.end()
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    res.end(JSON.stringify(value))
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (err instanceof SwarmpadError) {
      return this.json(res, HTTP_STATUS[err.code] ?? 500, { error: { code: err.code, message: err.message } })
    }
    const message = err instanceof Error ? err.message : String(err)
    this.emit('internal-error', err)
    this.json(res, 500, { error: { code: 'INTERNAL', message } })
  }
}

function secretEquals(candidate: string | null, secret: string): boolean {
  if (candidate === null) return false
  const a = Buffer.from(candidate)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

/// Read a JSON body up to MAX_REQUEST_BYTES; an empty body is null.
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_REQUEST_BYTES) throw new SwarmpadError('TOO_LARGE', `request body over ${MAX_REQUEST_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return null
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new SwarmpadError('BAD_ARGUMENT', 'request body is not JSON')
  }
}
