// security/local-server (TESTING.md 5.1) and the browser table of 5.2: every
// bad input from a browser is answered as listed, against a real LocalServer +
// CollabHub + Swarmpad in a temporary directory, while a well-behaved tab of
// the same document keeps working and the document is unharmed.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { request } from 'node:http'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { ChangeSet } from '@codemirror/state'
import { Swarmpad } from '../../src/swarmpad.js'
import { LocalServer, PAGE_AUTH_PROTOCOL_PREFIX, PAGE_PROTOCOL } from '../../src/server/http.js'
import { CollabHub } from '../../src/server/collab.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { CLOSE_VERSION, MAX_FRAME_BYTES, MAX_QUEUE, MESSAGE_BURST, PAGE_VERSION_PROTOCOL, type ServerMessage } from '../../src/server/protocol.js'
import { eventually } from '../helpers/docs.js'

let dir: string
let sp: Swarmpad
let server: LocalServer
let web = ''
let hub: CollabHub
let doc: SwarmDocument
const token = randomBytes(24).toString('base64url')

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmpad-server-'))
  web = join(dir, 'web')
  await mkdir(web)
  await writeFile(join(web, 'index.html'), '<!doctype html><title>swarmpad</title>')
  await writeFile(join(web, 'app.js'), '// page')
  await writeFile(join(dir, 'secret.txt'), 'SECRET-OUTSIDE-THE-BUNDLE')
  sp = new Swarmpad({ home: join(dir, 'home'), ackInterval: 0 })
  await sp.ready()
  doc = (await sp.create('notes.md', { text: 'hello' })).doc
  server = new LocalServer({ port: 0, token, staticDir: web })
  hub = new CollabHub(sp)
  server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))
  // Stand-ins for the daemon's API (src/daemon/api.ts registers the real ones).
  server.route('GET', '/api/ls', async () => ({ documents: ['notes.md'] }))
  server.route('POST', '/api/sync', async () => ({ ok: true }))
  await server.ready()
  pageKey = await redeem(server.issueTicket())
})

afterAll(async () => {
  await server?.close()
  await hub?.close()
  await sp?.close()
  await rm(dir, { recursive: true, force: true })
})

// --- clients ---

interface RawReply {
  status: number
  body: string
}

/// A plain HTTP request with full control of the headers (and raw path).
function http(path: string, headers: Record<string, string>, method = 'GET'): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, headers, setHost: !('Host' in headers) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/// The command's credential (the API, and WebSockets of non-browser clients).
const auth = () => ({ Authorization: `Bearer ${token}` })
/// The page's credential, redeemed from a ticket as the page does.
let pageKey = ''
const pageProtocols = (key = pageKey, version = PAGE_VERSION_PROTOCOL) => [PAGE_PROTOCOL, ...(version ? [version] : []), `${PAGE_AUTH_PROTOCOL_PREFIX}${key}`]

/// POST /page/redeem as the page does; the credential, or throws with the status.
async function redeem(ticket: string, headers: Record<string, string> = { Origin: `http://127.0.0.1:${server.port}`, 'Content-Type': 'application/json' }): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${server.port}/page/redeem`, { method: 'POST', headers, body: JSON.stringify({ ticket }) })
  if (r.status !== 200) throw Object.assign(new Error(`redeem: ${r.status}`), { status: r.status })
  return ((await r.json()) as { credential: string }).credential
}
const host = () => `127.0.0.1:${server.port}`

/// A WebSocket upgrade with the given headers: the HTTP status it got.
function upgradeStatus(headers: Record<string, string>, protocols: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, protocols, { headers })
    ws.on('open', () => {
      ws.close()
      resolve(101)
    })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
    })
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err)
    })
  })
}

class Tab {
  readonly ws: WebSocket
  readonly messages: ServerMessage[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly opened: Promise<void>
  clientID = 'tab' + randomBytes(4).toString('hex')
  seq = 0
  rid = 0
  version = 0
  epoch = ''

  /// A browser tab: the page credential as a subprotocol, our Origin.
  constructor(headers: Record<string, string> = { Origin: `http://${host()}` }, protocols: string[] = pageProtocols()) {
    this.ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, protocols, { headers, maxPayload: 64 * 1024 * 1024 })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.ws.on('error', () => {})
    this.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as ServerMessage
      this.messages.push(m)
      if (m.type === 'welcome') {
        this.version = m.version
        this.epoch = m.epoch
      }
      if (m.type === 'updates') this.version = Math.max(this.version, m.version + m.updates.length)
    })
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value))
  }

  async next<T extends ServerMessage['type']>(type: T, pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, ms = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    let found: Extract<ServerMessage, { type: T }> | undefined
    await eventually(() => {
      found = this.messages.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && pred(m as Extract<ServerMessage, { type: T }>))
      return found !== undefined
    }, `a ${type} message`, ms)
    this.messages.splice(this.messages.indexOf(found!), 1)
    return found!
  }

  async join(name = 'notes.md'): Promise<void> {
    await this.opened
    this.send({ type: 'join', doc: name, clientID: this.clientID, resume: null })
    await this.next('welcome')
  }

  /// Insert text at `at` based on the version we know; resolves on the ack.
  async insert(at: number, text: string, length = doc.text.length): Promise<void> {
    const changes = ChangeSet.of([{ from: at, insert: text }], length).toJSON()
    const rid = ++this.rid
    this.send({ type: 'push', doc: 'notes.md', rid, epoch: this.epoch, version: this.version, updates: [{ seq: this.seq++, changes }] })
    await this.next('ack', (m) => m.rid === rid)
  }

  async request(msg: Record<string, unknown>): Promise<ServerMessage> {
    const rid = ++this.rid
    this.send({ ...msg, rid })
    let found: ServerMessage | undefined
    await eventually(() => {
      found = this.messages.find((m) => 'rid' in m && m.rid === rid)
      return found !== undefined
    }, `a reply to ${String(msg.type)}`)
    this.messages.splice(this.messages.indexOf(found!), 1)
    return found!
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  close(): void {
    this.ws.close()
  }
}

/// A well-behaved tab that must survive every case below.
let good: Tab

async function goodStillWorks(): Promise<void> {
  expect(good.isOpen).toBe(true)
  const before = doc.text.toString()
  const mark = `[ok${good.seq}]`
  await good.insert(before.length, mark, before.length)
  await eventually(() => doc.text.toString() === before + mark, 'the good tab to edit')
  // Confirmed to it once durable: its own update comes back.
  await good.next('updates', (m) => m.updates.some((u) => u.clientID === good.clientID))
}

describe('HTTP: token, Origin, Host, paths', () => {
  test('the API takes the command token only: no cookie, no page credential, nothing else', async () => {
    const cases: Array<Record<string, string>> = [
      {},
      { Cookie: `swarmpad_token=${token}` },
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${token.slice(0, -1)}` },
      { Authorization: `Bearer ${pageKey}` },
      { 'X-Swarmpad-Page': pageKey }
    ]
    for (const headers of cases) {
      for (const [path, method] of [['/api/ls', 'GET'], ['/api/sync', 'POST'], ['/api/new', 'POST']] as const) {
        const r = await http(path, headers, method)
        expect(r.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401)
        expect(r.body).not.toContain('notes.md')
      }
    }
    // Positive control: the token does open it.
    const ok = await http('/api/ls', auth())
    expect(ok.status).toBe(200)
    expect(ok.body).toContain('notes.md')
    // The page's files are public and hold no document data.
    const page = await http('/doc/notes.md', {})
    expect(page.status).toBe(200)
    expect(page.body).toContain('swarmpad</title>')
    expect(page.body).not.toContain('hello')
  })

  test('login tickets work once, only from a page of this origin, as JSON; the page credential is not the token', async () => {
    const origin = `http://127.0.0.1:${server.port}`
    const ticket = server.issueTicket()
    // Refused without Origin, from another origin, or as text/plain (a form or another site).
    await expect(redeem(ticket, { 'Content-Type': 'application/json' })).rejects.toMatchObject({ status: 403 })
    await expect(redeem(ticket, { Origin: `http://127.0.0.1:${server.port + 1}`, 'Content-Type': 'application/json' })).rejects.toMatchObject({ status: 403 })
    await expect(redeem(ticket, { Origin: origin, 'Content-Type': 'text/plain' })).rejects.toMatchObject({ status: 415 })
    // Those attempts did not use it up; it works once.
    const key = await redeem(ticket)
    expect(key).toBe(pageKey)
    expect(key).not.toBe(token)
    await expect(redeem(ticket)).rejects.toMatchObject({ status: 401 })
    await expect(redeem('made-up')).rejects.toMatchObject({ status: 401 })
    // The login address keeps the ticket in the fragment (never sent to a server).
    expect(server.loginUrl('/doc/notes.md')).toMatch(new RegExp(`^${origin}/login#ticket=[A-Za-z0-9_-]+&next=%2Fdoc%2Fnotes\\.md$`))
    // The page can ask whether its credential still holds.
    expect((await http('/page/session', { 'X-Swarmpad-Page': pageKey })).status).toBe(204)
    expect((await http('/page/session', { 'X-Swarmpad-Page': 'stale' })).status).toBe(401)
    // A new server (a daemon restart) has another page credential.
    const again = new LocalServer({ port: 0, token, staticDir: web })
    await again.ready()
    try {
      const r = await fetch(`${again.origin}/page/redeem`, { method: 'POST', headers: { Origin: again.origin, 'Content-Type': 'application/json' }, body: JSON.stringify({ ticket: again.issueTicket() }) })
      expect(((await r.json()) as { credential: string }).credential).not.toBe(pageKey)
    } finally {
      await again.close()
    }
  })

  test('foreign Origin or unexpected Host (DNS rebinding): 403', async () => {
    expect((await http('/', { ...auth(), Origin: 'http://evil.example' })).status).toBe(403)
    expect((await http('/', { ...auth(), Origin: `http://127.0.0.1:${server.port + 1}` })).status).toBe(403)
    expect((await http('/', { ...auth(), Host: `evil.example:${server.port}` })).status).toBe(403)
    expect((await http('/', { ...auth(), Host: 'localhost' })).status).toBe(403)
    expect((await http('/', { ...auth(), Origin: `http://localhost:${server.port}` })).status).toBe(200)
  })

  test('paths outside the bundle: 404', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/app.js/../../secret.txt', '/%2e%2e%2f%2e%2e%2fsecret.txt', '/x/..%5c..%5csecret.txt', '/%00.js']) {
      const r = await http(path, auth())
      expect([400, 404]).toContain(r.status)
      expect(r.body).not.toContain('SECRET')
    }
  })

  test('listens on 127.0.0.1 only', () => {
    const inner = Reflect.get(server, 'server') as { address(): { address: string } }
    expect(inner.address().address).toBe('127.0.0.1')
  })
})

describe('WebSocket: the browser table', () => {
  beforeAll(async () => {
    good = new Tab()
    await good.join()
  })

  test('missing/wrong token, foreign Origin, unexpected Host: refused before any data', async () => {
    expect(await upgradeStatus({})).toBe(401)
    expect(await upgradeStatus({ Cookie: `swarmpad_token=${token}` })).toBe(401)
    expect(await upgradeStatus({}, pageProtocols('nope'))).toBe(401)
    expect(await upgradeStatus({ Origin: 'http://evil.example' }, pageProtocols())).toBe(403)
    expect(await upgradeStatus({ Host: `attacker.example:${server.port}` }, pageProtocols())).toBe(403)
    expect(await upgradeStatus({ Origin: `http://${host()}` }, pageProtocols())).toBe(101)
    expect(await upgradeStatus({ ...auth(), Origin: `http://${host()}` })).toBe(101)
    await goodStillWorks()
  })

  test("a page of another protocol version (or one that names none) is closed with CLOSE_VERSION and asked to reload; ours joins", async () => {
    for (const version of ['swarmpad.v999', '']) {
      const tab = new Tab(undefined, pageProtocols(pageKey, version))
      const closed = await tab.closed
      expect(closed.code, version || 'no version').toBe(CLOSE_VERSION)
      expect(closed.reason).toMatch(/reload the page/)
    }
    // A command-line client (bearer token) that names no version is not a page: it stays.
    const bearer = new Tab({ ...auth(), Origin: `http://${host()}` }, [])
    await bearer.opened
    await bearer.join()
    bearer.ws.close()
    // Positive control: the same wait lets a tab of our version in.
    const ours = new Tab()
    await ours.join()
    ours.ws.close()
    await goodStillWorks()
  })

  const closes: Array<[string, () => unknown, number, RegExp]> = [
    ['non-JSON text', () => 'this is not json', 1007, /^bad-json/],
    ['binary frame', () => Buffer.from([1, 2, 3]), 1007, /^binary/],
    ['unknown message type', () => ({ type: 'format-disk' }), 1008, /^unknown-type/],
    ['a JSON value that is not an object', () => [1, 2, 3], 1008, /^bad-message/],
    ['missing field', () => ({ type: 'push', doc: 'notes.md', rid: 1, epoch: 'e', version: 0 }), 1008, /^missing-field: updates/],
    ['mistyped field', () => ({ type: 'push', doc: 'notes.md', rid: 1, epoch: 'e', version: '3', updates: [] }), 1008, /^bad-field: version/],
    ['unknown field', () => ({ type: 'documents', evil: true }), 1008, /^unknown-field: evil/],
    ['invalid clientID', () => ({ type: 'join', doc: 'notes.md', clientID: '<script>', resume: null }), 1008, /^bad-field: clientID/],
    ['oversized string field', () => ({ type: 'create', rid: 1, name: 'x'.repeat(10_000) }), 1008, /^bad-field: name/],
    ['re-key flag that is not a boolean', () => ({ type: 'remove-member', doc: 'notes.md', rid: 1, key: 'ab'.repeat(32), rekey: 'yes' }), 1008, /^bad-field: rekey/]
  ]

  for (const [what, payload, code, reason] of closes) {
    test(`${what}: closed with ${code} and a reason`, async () => {
      const bad = new Tab()
      await bad.join()
      const p = payload()
      bad.ws.send(p instanceof Buffer ? p : typeof p === 'string' ? p : JSON.stringify(p), { binary: p instanceof Buffer })
      const c = await bad.closed
      expect(c.code).toBe(code)
      expect(c.reason).toMatch(reason)
      await goodStillWorks()
    })
  }

  test('frame over the cap (a 9 MiB paste in one frame): closed with 1009, never buffered', async () => {
    const bad = new Tab()
    await bad.join()
    const huge = JSON.stringify({ type: 'push', doc: 'notes.md', rid: 1, epoch: bad.epoch, version: bad.version, updates: [{ seq: 0, changes: [[0, 'x'.repeat(MAX_FRAME_BYTES + 1024 * 1024)]] }] })
    bad.send(huge)
    const c = await bad.closed
    expect(c.code).toBe(1009)
    await goodStillWorks()
    expect(doc.text.toString()).not.toContain('xxxxxxxx')
  })

  test('ChangeSet JSON that fromJSON rejects, or that does not fit: error with the RangeError text, resync, no change', async () => {
    const bad = new Tab()
    await bad.join()
    const before = doc.text.toString()
    const version = doc.version
    const cases: Array<[unknown, RegExp]> = [
      [[['x']], /Invalid JSON representation of ChangeSet/],
      ['not an array', /Invalid JSON representation of ChangeSet/],
      [[-5, [2, 'a']], /Invalid JSON representation of ChangeSet/],
      [[1.5, [0, 'a']], /Invalid JSON representation of ChangeSet/],
      [[[0, 'a\nb']], /line break/],
      [[before.length + 10, [0, 'zz']], /does not fit/],
      [[[0, 'zz']], /does not fit/]
    ]
    for (const [changes, message] of cases) {
      const rid = ++bad.rid
      bad.send({ type: 'push', doc: 'notes.md', rid, epoch: bad.epoch, version: bad.version, updates: [{ seq: bad.seq++, changes }] })
      const e = await bad.next('error', (m) => m.rid === rid)
      expect(e.code).toBe('BAD_CHANGE')
      expect(e.message).toMatch(message)
      expect(e.resync).toBe(true)
    }
    expect(bad.isOpen).toBe(true)
    expect(doc.text.toString()).toBe(before)
    expect(doc.version).toBe(version)
    await goodStillWorks()
  })

  test('version from the future, negative or non-integer, or of another run: error, no state change', async () => {
    const bad = new Tab()
    await bad.join()
    const before = doc.text.toString()
    for (const version of [bad.version + 5, -1, 1.5, 1e300]) {
      const rid = ++bad.rid
      const changes = ChangeSet.of([{ from: 0, insert: 'FUTURE' }], before.length).toJSON()
      bad.send({ type: 'push', doc: 'notes.md', rid, epoch: bad.epoch, version, updates: [{ seq: bad.seq++, changes }] })
      const e = await bad.next('error', (m) => m.rid === rid)
      expect(e.code).toBe('BAD_VERSION')
    }
    // A push of another run of the authority (sent before a restart, or replayed).
    const rid = ++bad.rid
    bad.send({ type: 'push', doc: 'notes.md', rid, epoch: 'an-earlier-run', version: bad.version, updates: [{ seq: bad.seq++, changes: ChangeSet.of([{ from: 0, insert: 'OLD' }], before.length).toJSON() }] })
    expect((await bad.next('error', (m) => m.rid === rid)).code).toBe('STALE_EPOCH')
    bad.send({ type: 'presence', doc: 'notes.md', epoch: bad.epoch, version: bad.version + 99, anchor: 0, head: 0 })
    expect((await bad.next('error')).code).toBe('BAD_VERSION')
    expect(doc.text.toString()).toBe(before)
    expect(bad.isOpen).toBe(true)
    await goodStillWorks()
  })

  test('unknown document: error, no state change', async () => {
    const bad = new Tab()
    await bad.opened
    bad.send({ type: 'join', doc: 'no-such-doc', clientID: bad.clientID, resume: null })
    const e = await bad.next('error')
    expect(e.code).toBe('DOC_NOT_FOUND')
    expect(e.message).toMatch(/no document named "no-such-doc"/)
    const rid = ++bad.rid
    bad.send({ type: 'push', doc: 'no-such-doc', rid, epoch: 'e', version: 0, updates: [{ seq: 0, changes: [[0, 'x']] }] })
    expect((await bad.next('error', (m) => m.rid === rid)).code).toBe('DOC_NOT_FOUND')
    // A document that exists but was not joined on this socket.
    const rid2 = ++bad.rid
    bad.send({ type: 'push', doc: 'notes.md', rid: rid2, epoch: 'e', version: 0, updates: [{ seq: 0, changes: [[0, 'x']] }] })
    expect((await bad.next('error', (m) => m.rid === rid2)).code).toBe('DOC_NOT_FOUND')
    expect(sp.library.list().map((e) => e.name)).toEqual(['notes.md'])
    expect(bad.isOpen).toBe(true)
    await goodStillWorks()
  })

  test('replayed / duplicated update: applied once', async () => {
    const bad = new Tab()
    await bad.join()
    const base = doc.text.toString()
    const changes = ChangeSet.of([{ from: 0, insert: '<once>' }], base.length).toJSON()
    const push = JSON.stringify({ type: 'push', doc: 'notes.md', rid: 100, epoch: bad.epoch, version: bad.version, updates: [{ seq: 7, changes }] })
    bad.send(push)
    bad.send(push) // the same frame again (rebaseUpdates drops it)
    await bad.next('ack')
    await bad.next('ack')
    // Confirmed (durable): now the tab knows the current version.
    await bad.next('updates', (m) => m.updates.some((u) => u.clientID === bad.clientID))
    // ... and a replay claiming the current version (dropped on clientID + seq).
    const now = doc.text.toString()
    const replay = ChangeSet.of([{ from: 0, insert: '<once>' }], now.length).toJSON()
    bad.send({ type: 'push', doc: 'notes.md', rid: 101, epoch: bad.epoch, version: bad.version, updates: [{ seq: 7, changes: replay }] })
    await bad.next('ack', (m) => m.rid === 101)
    await eventually(() => doc.text.toString().startsWith('<once>'), 'the update')
    expect(doc.text.toString().split('<once>').length - 1).toBe(1)
    // A second connection of the same tab (a reconnect) sending it again.
    const again = new Tab()
    again.clientID = bad.clientID
    await again.opened
    again.send({ type: 'join', doc: 'notes.md', clientID: bad.clientID, resume: null })
    const w = await again.next('welcome')
    expect(w.mode).toBe('reset')
    expect(w.applied).toBe(7)
    again.send(push)
    await again.next('ack')
    expect(doc.text.toString().split('<once>').length - 1).toBe(1)
    await goodStillWorks()
  })

  test('cursor outside the document: clamped before anyone sees it', async () => {
    const bad = new Tab()
    await bad.join()
    good.messages.length = 0
    const len = doc.text.length
    bad.send({ type: 'presence', doc: 'notes.md', epoch: bad.epoch, version: bad.version, anchor: 1e12, head: -50 })
    const p = await good.next('presence', (m) => m.peers.some((x) => x.id === `tab:${bad.clientID}`))
    const peer = p.peers.find((x) => x.id === `tab:${bad.clientID}`)!
    expect(peer.anchor).toBe(len)
    expect(peer.head).toBe(0)
    bad.send({ type: 'presence', doc: 'notes.md', epoch: bad.epoch, version: bad.version, anchor: 2.7, head: 3.2 })
    const q = await good.next('presence', (m) => m.peers.some((x) => x.id === `tab:${bad.clientID}` && x.anchor === 2))
    expect(q.peers.find((x) => x.id === `tab:${bad.clientID}`)!.head).toBe(3)
    bad.close()
    await goodStillWorks()
  })

  test(`message flood: closed with 1008 after ${MESSAGE_BURST} messages beyond the rate`, async () => {
    const bad = new Tab()
    await bad.join()
    const before = doc.text.toString()
    const msg = JSON.stringify({ type: 'presence', doc: 'notes.md', epoch: bad.epoch, version: bad.version, anchor: 0, head: 0 })
    for (let i = 0; i < MESSAGE_BURST * 3; i++) bad.ws.send(msg)
    const c = await bad.closed
    expect(c.code).toBe(1008)
    expect(c.reason).toMatch(/^rate-limit/)
    expect(doc.text.toString()).toBe(before)
    await goodStillWorks()
  })

  test(`request flood: backpressure (the socket stops reading), every request answered in order, others unaffected`, async () => {
    const bad = new Tab()
    await bad.join()
    for (let i = 0; i < 200; i++) bad.send({ type: 'history-at', doc: 'notes.md', rid: 1000 + i, index: 0, blame: true })
    await goodStillWorks()
    await eventually(() => bad.messages.filter((m) => m.type === 'history-at').length === 200, 'every request to be answered', 30_000)
    const rids = bad.messages.filter((m): m is Extract<ServerMessage, { type: 'history-at' }> => m.type === 'history-at').map((m) => m.rid)
    expect(rids).toEqual([...rids].sort((a, b) => a - b))
    expect(bad.isOpen).toBe(true)
  })

  test(`request flood beyond ${MAX_QUEUE} waiting requests: closed with 1008`, async () => {
    const bad = new Tab()
    await bad.join()
    // One frame-burst far larger than any page sends: the queue overflows before the socket pauses.
    for (let i = 0; i < MAX_QUEUE * 4; i++) bad.send({ type: 'history', doc: 'notes.md', rid: 5000 + i })
    const c = await bad.closed
    expect(c.code).toBe(1008)
    expect(c.reason).toMatch(/^flood/)
    await goodStillWorks()
  })
})
