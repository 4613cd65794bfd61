import type { IncomingMessage } from 'node:http'
import { isAbsolute } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import b4a from 'b4a'
import type { ChangeSet } from '@codemirror/state'
import { readJson, TICKET_TTL_MS, type LocalServer } from '../server/http.js'
import type { OpenDocument } from '../swarmpad.js'
import { SwarmpadError, errorMessage } from '../errors.js'
import { checkDocumentName, type LocalRole } from '../storage/library.js'
import { formatKey, fromHex } from '../storage/keys.js'
import { SWARMPAD_VERSION } from './info.js'
import { MAX_FILE_BYTES, decodeText, readTextFile, tooLarge } from './textfile.js'
import { writeProfile } from './profile.js'
import { defaultColor, durationMs, INVITE_EXPIRY, JOIN_TIMEOUT, type Checked } from '../values.js'
import type { FileMirror, MirrorStart } from './mirror.js'
import type { Daemon } from './daemon.js'
import type { Member } from '../doc/membership.js'
import { projectMembers } from '../doc/member-projection.js'

/// What `ls`, `status` and `GET /api/doc` say about a document.
export interface DocumentSummary {
  name: string
  /// z-base-32, as people see keys.
  key: string
  role: LocalRole
  /// 'open', 'needs-upgrade', or 'failed' (could not be opened; see `error`).
  state: string
  version: number
  /// The document's block format (PROTOCOL.md): 1 for documents made before
  /// format 2 (older swarmpad reads them), 2 for new ones.
  format: number
  /// Length of the text in UTF-16 units (characters for most text).
  length: number
  writable: boolean
  members: number
  /// Members online now (null without the network layer).
  online: number | null
  sync: { state: string; label: string; peers: number } | null
  error?: string
}

export interface LogLine {
  index: number
  time: number
  member: number
  name: string
  key: string
  you: boolean
  inserted: number
  deleted: number
}

/// Register every route of the daemon's JSON API on `server`. Each CLI
/// command is one (or two) of these calls. Every request carries the token
/// of daemon.json; errors are `{ error: { code, message } }` with an HTTP
/// status from the code. `doc` is a local name or a key.
///
///   GET  /api/ping                      { ok, pid, version }
///   GET  /api/status                    daemon, network, documents, mirrors
///   POST /api/stop                      replies, then closes everything in order
///   GET  /api/ls                        { documents: DocumentSummary[] }
///   GET  /api/doc?doc=                  DocumentSummary + writerKey
///   POST /api/new?name=   body: text    DocumentSummary (text/plain body, may be empty)
///   GET  /api/cat?doc=                  the text (text/plain; X-Swarmpad-Version)
///   POST /api/write?doc=  body: text    { version, inserted, deleted } once durable
///   GET  /api/log?doc=&from=&limit=     { total, next, entries: LogLine[] }
///   GET  /api/members?doc=              { members: MemberInfo[] }
///   POST /api/members/remove            { doc, member, rekey? } -> RemoveResult
///   POST /api/upgrade                   { doc } -> RekeyResult (a format 1 document to format 2)
///   POST /api/invite                    { doc, role?, expires? (ms) } -> CreatedInvite
///   GET  /api/invites?doc=              { invites: InviteInfo[] }
///   POST /api/invites/cancel            { doc, id }
///   POST /api/join                      { code, name?, timeout? } -> NDJSON progress, then done | error
///   GET  /api/whoami, POST /api/whoami  { name?, color? } -> profile, per-document result
///   GET  /api/mirrors, POST /api/sync { doc, path, take? }, POST /api/unsync { doc, path }
///   POST /api/edit?doc=&path=           NDJSON: ready, saved, remote, problem (open while editing)
///   POST /api/edit/finish               { session } -> { version, saves, problem, othersEdited }
///   POST /api/login                     { doc? } -> { url, expires }: a single-use page login (see http.ts)
export function registerApi(daemon: Daemon, server: LocalServer): void {
  const sessions = new Map<string, EditSession>()

  server.route('GET', '/api/ping', async () => ({ ok: true, pid: process.pid, version: SWARMPAD_VERSION }))

  server.route('GET', '/api/status', async () => ({
    daemon: {
      pid: process.pid,
      port: daemon.port,
      version: SWARMPAD_VERSION,
      home: daemon.options.home,
      started: daemon.started,
      uptime: Date.now() - daemon.started
    },
    network: networkStatus(daemon),
    documents: await summaries(daemon),
    mirrors: daemon.mirrors.list().map((m) => ({ ...m, doc: nameOfKey(daemon, m.doc) })),
    editSessions: sessions.size
  }))

  server.route('POST', '/api/stop', async () => {
    daemon.requestStop()
    return { ok: true, pid: process.pid }
  })

  server.route('GET', '/api/ls', async () => ({ documents: await summaries(daemon) }))

  // The page's login address for `swarmpad open`: a ticket that works once,
  // for two minutes; never the command's token.
  server.route('POST', '/api/login', async (body) => {
    const b = object(body ?? {})
    const next = b.doc === undefined ? '/' : `/doc/${encodeURIComponent((await daemon.document(str(b, 'doc'))).entry.name)}`
    return { url: server.loginUrl(next), expires: Date.now() + TICKET_TTL_MS }
  })

  server.route('GET', '/api/doc', async (_body, url) => {
    const open = await daemon.document(param(url, 'doc'))
    return { ...(await summary(daemon, open)), writerKey: formatKey(open.doc.writerKey) }
  })

  // Text goes in and out as raw UTF-8 (not JSON), up to MAX_FILE_BYTES.
  server.rawRoute('POST', '/api/new', async (req, res, url) => {
    const name = param(url, 'name')
    const problem = checkDocumentName(name)
    if (problem !== null) throw SwarmpadError.usage(`invalid document name "${name}": ${problem}`)
    const text = await readText(req)
    const open = await daemon.swarmpad.create(name, text.length > 0 ? { text } : {})
    await applyProfile(daemon, open)
    server.json(res, 200, await summary(daemon, open))
  })

  server.rawRoute('GET', '/api/cat', async (_req, res, url) => {
    const open = await daemon.document(param(url, 'doc'))
    const text = open.doc.text.toString()
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Swarmpad-Version': String(open.doc.version),
      'X-Swarmpad-Name': encodeURIComponent(open.entry.name)
    })
    res.end(text)
  })

  server.rawRoute('POST', '/api/write', async (req, res, url) => {
    const open = await daemon.document(param(url, 'doc'))
    const text = await readText(req)
    const result = open.doc.replaceText(text)
    await result.durable
    server.json(res, 200, { name: open.entry.name, version: result.version, ...countChanges(result.changes) })
  })

  server.route('GET', '/api/log', async (_body, url) => {
    const open = await daemon.document(param(url, 'doc'))
    const total = open.doc.updateCount
    const limit = intParam(url, 'limit', 1000, 1, 10_000)
    const from = intParam(url, 'from', 0, 0, Number.MAX_SAFE_INTEGER)
    const membership = await open.doc.membership()
    const self = b4a.toString(open.doc.writerKey, 'hex')
    const entries: LogLine[] = []
    for await (const e of open.doc.updates(from)) {
      if (entries.length >= limit) break
      const m = membership.members.find((x) => x.n === e.member)
      const keyHex = m ? b4a.toString(m.key, 'hex') : ''
      entries.push({
        index: e.index,
        time: e.time,
        member: e.member,
        name: m?.name ?? '',
        key: m ? formatKey(m.key) : '',
        you: keyHex === self,
        ...countYjs(e.yjs)
      })
    }
    const last = entries.length > 0 ? entries[entries.length - 1]!.index + 1 : from
    return { name: open.entry.name, total, from, next: last < total ? last : null, entries }
  })

  server.route('GET', '/api/members', async (_body, url) => {
    const open = await daemon.document(param(url, 'doc'))
    return { name: open.entry.name, members: await daemon.members.list(open.entry.key) }
  })

  server.route('POST', '/api/members/remove', async (body) => {
    const b = object(body)
    const open = await daemon.document(str(b, 'doc'))
    const result = await daemon.members.remove(open.entry.key, str(b, 'member'), { rekey: b.rekey === true })
    return { name: open.entry.name, ...result }
  })

  server.route('POST', '/api/upgrade', async (body) => {
    const open = await daemon.document(str(object(body), 'doc'))
    return await daemon.invites.rekey(open.entry.name, null)
  })

  server.route('POST', '/api/invite', async (body) => {
    const b = object(body)
    const open = await daemon.document(str(b, 'doc'))
    const role = b.role ?? 'writer'
    if (role !== 'writer' && role !== 'owner' && role !== 'reader') throw SwarmpadError.usage(`invalid role "${String(role)}": expected writer, owner or read-only`)
    const expiresMs = b.expires === undefined ? undefined : checked(durationMs(b.expires, INVITE_EXPIRY), 'expires')
    return { name: open.entry.name, ...(await daemon.invites.create(open.entry.key, { role, ...(expiresMs !== undefined ? { expiresMs } : {}) })) }
  })

  server.route('GET', '/api/invites', async (_body, url) => {
    const open = await daemon.document(param(url, 'doc'))
    return { name: open.entry.name, invites: daemon.invites.list(open.entry.key) }
  })

  server.route('POST', '/api/invites/cancel', async (body) => {
    const b = object(body)
    const open = await daemon.document(str(b, 'doc'))
    return { name: open.entry.name, invite: await daemon.invites.cancel(open.entry.key, str(b, 'id')) }
  })

  // Joining takes as long as the inviting device needs to answer: progress
  // streams down as NDJSON; the client going away cancels (nothing is kept).
  server.rawRoute('POST', '/api/join', async (req, res) => {
    const b = object(await readJson(req))
    const code = str(b, 'code')
    const name = b.name === undefined || b.name === null ? undefined : str(b, 'name')
    const timeoutMs = b.timeout === undefined ? undefined : checked(durationMs(b.timeout, JOIN_TIMEOUT), 'timeout')
    const abort = new AbortController()
    res.on('close', () => abort.abort())
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' })
    const send = (event: Record<string, unknown>) => {
      if (!res.writableEnded) res.write(JSON.stringify(event) + '\n')
    }
    try {
      const entry = await daemon.invites.join(code, {
        ...(name !== undefined ? { name } : {}),
        ...(daemon.profile ? { profile: daemon.profile } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        signal: abort.signal,
        onProgress: (p) => send({ type: 'progress', stage: p.stage, message: p.message, elapsed: p.elapsedMs })
      })
      const open = await daemon.swarmpad.open(entry.name)
      send({ type: 'done', document: await summary(daemon, open) })
    } catch (err) {
      const code = err instanceof SwarmpadError ? err.code : 'INTERNAL'
      send({ type: 'error', error: { code, message: errorMessage(err) } })
    }
    res.end()
  })

  server.route('GET', '/api/whoami', async () => ({
    profile: daemon.profile,
    documents: await Promise.all(
      daemon.swarmpad.documents.map(async (open) => {
        const self = await open.doc.self().catch(() => null)
        return { name: open.entry.name, member: self ? { name: self.name, color: self.color, key: formatKey(self.key), role: self.role } : null }
      })
    )
  }))

  server.route('POST', '/api/whoami', async (body) => {
    const b = object(body)
    const name = b.name === undefined ? (daemon.profile?.name ?? null) : str(b, 'name')
    if (name === null) throw SwarmpadError.usage('set a name first: swarmpad whoami --name NAME')
    const color = b.color === undefined ? (daemon.profile?.color ?? defaultColor(name)) : str(b, 'color')
    daemon.profile = await writeProfile(daemon.paths.profile, { name, color })
    const results: Array<{ name: string; applied: boolean; readOnly?: boolean; reason?: string }> = []
    for (const open of daemon.swarmpad.documents) {
      const reason = await applyProfile(daemon, open)
      results.push(reason === null ? { name: open.entry.name, applied: true } : { name: open.entry.name, applied: false, readOnly: reason === READ_ONLY, reason })
    }
    return { profile: daemon.profile, documents: results }
  })

  server.route('GET', '/api/mirrors', async () => ({
    mirrors: daemon.mirrors.list().map((m) => ({ ...m, doc: nameOfKey(daemon, m.doc) }))
  }))

  server.route('POST', '/api/sync', async (body) => {
    const b = object(body)
    const open = await daemon.document(str(b, 'doc'))
    const path = absolutePath(str(b, 'path'))
    const take = b.take ?? null
    if (take !== null && take !== 'file' && take !== 'doc') throw SwarmpadError.usage(`invalid "take": ${String(take)}`)
    const how = await startMode(open, path, take)
    await daemon.mirrors.add(open, path, how)
    return { name: open.entry.name, path, started: how }
  })

  server.route('POST', '/api/unsync', async (body) => {
    const b = object(body)
    const open = await daemon.document(str(b, 'doc'))
    const path = absolutePath(str(b, 'path'))
    if (!(await daemon.mirrors.remove(open.entry.key, path))) {
      const synced = daemon.mirrors.list().filter((m) => m.doc === open.entry.key).map((m) => m.path)
      throw new SwarmpadError(
        'BAD_ARGUMENT',
        `${path} is not synced with "${open.entry.name}"; ${synced.length === 0 ? 'it has no synced files' : `its synced files: ${synced.join(', ')}`}`
      )
    }
    return { name: open.entry.name, path }
  })

  // `swarmpad edit`: the daemon mirrors the editor's file while this
  // request stays open (NDJSON events down); the CLI ends it with
  // /api/edit/finish, or by going away (then what the file holds is saved).
  server.rawRoute('POST', '/api/edit', async (req, res, url) => {
    const open = await daemon.document(param(url, 'doc'))
    if (open.doc.frozen !== null) throw new SwarmpadError('MOVED', open.doc.frozen)
    if (!open.doc.writable) throw new SwarmpadError('NOT_WRITABLE', `"${open.entry.name}" is read-only on this device; use \`swarmpad cat\` to read it`)
    const path = absolutePath(param(url, 'path'))
    const mirror = await daemon.mirrors.session(open, path)
    const id = randomBytes(16).toString('hex')
    const session: EditSession = { id, mirror, open, ended: false, saves: 0 }
    sessions.set(id, session)
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' })
    const send = (event: Record<string, unknown>) => {
      if (!res.writableEnded) res.write(JSON.stringify(event) + '\n')
    }
    mirror.on('saved', (e: { version: number }) => {
      session.saves++
      send({ type: 'saved', version: e.version })
    })
    mirror.on('written', () => send({ type: 'remote', version: open.doc.version }))
    mirror.on('problem', (message: string) => send({ type: 'problem', message }))
    send({ type: 'ready', session: id, version: open.doc.version, path })
    await new Promise<void>((resolve) => {
      session.end = () => {
        res.end()
        resolve()
      }
      res.on('close', resolve)
    })
    if (!session.ended) {
      // The client went away without finishing: keep what the file holds.
      session.ended = true
      sessions.delete(id)
      await mirror.flush().catch((err) => daemon.log(`edit ${open.entry.name}: ${errorMessage(err)}`))
      await daemon.mirrors.endSession(mirror)
    }
  })

  server.route('POST', '/api/edit/finish', async (body) => {
    const b = object(body)
    const session = sessions.get(str(b, 'session'))
    if (!session) throw SwarmpadError.badArgument('no such edit session (the daemon may have restarted)')
    session.ended = true
    sessions.delete(session.id)
    try {
      const { version } = await session.mirror.flush()
      return { name: session.open.entry.name, version, saves: session.saves, problem: session.mirror.problem, othersEdited: session.mirror.behind }
    } finally {
      await daemon.mirrors.endSession(session.mirror)
      session.end?.()
    }
  })
}

interface EditSession {
  id: string
  mirror: FileMirror
  open: OpenDocument
  ended: boolean
  /// File saves that went into the document.
  saves: number
  end?: () => void
}

// --- summaries ---

async function summaries(daemon: Daemon): Promise<DocumentSummary[]> {
  const out: DocumentSummary[] = []
  for (const entry of daemon.swarmpad.library.list()) {
    const open = daemon.swarmpad.documents.find((d) => d.entry.key === entry.key)
    if (open) {
      out.push(await summary(daemon, open))
      continue
    }
    const failed = daemon.failed.find((f) => f.key === entry.key)
    out.push({
      name: entry.name,
      key: formatKey(fromHex(entry.key)),
      role: entry.role,
      state: 'failed',
      version: 0,
      format: 0,
      length: 0,
      writable: false,
      members: 0,
      online: null,
      sync: null,
      error: failed?.error ?? 'not open'
    })
  }
  return out
}

async function summary(daemon: Daemon, open: OpenDocument): Promise<DocumentSummary> {
  const { doc, entry } = open
  const members = await doc.members().catch(() => [])
  return {
    name: entry.name,
    key: formatKey(doc.key),
    role: entry.role,
    state: doc.state,
    version: doc.version,
    format: doc.format,
    length: doc.text.length,
    writable: doc.writable,
    members: members.length,
    online: onlineMembers(daemon, open, members),
    sync: documentSync(daemon, open),
    ...(doc.interruptReason ? { error: doc.interruptReason } : {})
  }
}

/// The network as `swarmpad status` shows it.
function networkStatus(daemon: Daemon): Record<string, unknown> {
  const s = daemon.network.status()
  return {
    device: formatKey(fromHex(s.device)),
    bootstrap: s.bootstrap === 'public' ? 'public DHT' : s.bootstrap,
    bootstrapReachable: s.bootstrapReachable,
    lan: s.lan.enabled,
    lanDetails: s.lan,
    peers: s.peers,
    presence: s.presence
  }
}

function documentSync(daemon: Daemon, open: OpenDocument): DocumentSummary['sync'] {
  try {
    const s = daemon.network.documentStatus(open.doc)
    return { state: s.state, label: s.label, peers: s.peers }
  } catch {
    return null
  }
}

/// The other members online in a document now (the membership projection's
/// count, as the page and `swarmpad members` show them); null off the network.
function onlineMembers(daemon: Daemon, open: OpenDocument, members: Member[]): number | null {
  try {
    const online = daemon.network.presence(open.doc).onlineDevices()
    return projectMembers(members, open.doc.writerKey, online).members.filter((m) => m.online && !m.self).length
  } catch {
    return null
  }
}

function nameOfKey(daemon: Daemon, key: string): string {
  return daemon.swarmpad.library.list().find((e) => e.key === key)?.name ?? key
}

/// Characters inserted and deleted by a Yjs update (for `swarmpad log`).
export function countYjs(update: Uint8Array): { inserted: number; deleted: number } {
  let inserted = 0
  let deleted = 0
  try {
    const { structs, ds } = Y.decodeUpdate(update)
    for (const s of structs) {
      if (s instanceof Y.Item && s.content instanceof Y.ContentString) inserted += s.content.str.length
    }
    for (const items of ds.clients.values()) for (const d of items) deleted += d.len
  } catch {
    // Accepted updates always decode; a damaged one counts as nothing.
  }
  return { inserted, deleted }
}

function countChanges(changes: ChangeSet): { inserted: number; deleted: number } {
  let inserted = 0
  let deleted = 0
  changes.iterChanges((fromA, toA, _fromB, _toB, text) => {
    deleted += toA - fromA
    inserted += text.length
  })
  return { inserted, deleted }
}

/// Apply the device profile to a document whose member record differs;
/// returns why it was not applied, or null. The network publishes the
/// device key in the same record (for presence): keep it, and check again
/// in case its block landed over ours.
const READ_ONLY = 'read-only on this device'

async function applyProfile(daemon: Daemon, open: OpenDocument): Promise<string | null> {
  const profile = daemon.profile
  if (profile === null) return 'no profile set'
  if (!open.doc.writable) return READ_ONLY
  const device = daemon.network.publicKey
  let last: unknown = null
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const self = await open.doc.self()
      if (self === null) return 'not a member'
      if (self.name === profile.name && self.color === profile.color && self.device !== null && b4a.equals(self.device, device)) return null
      await open.doc.setProfile({ ...profile, device })
    } catch (err) {
      last = err
    }
  }
  const reason = last === null ? 'the profile block was not applied' : errorMessage(last)
  daemon.log(`profile for ${open.entry.name}: ${reason}`)
  return reason
}

/// Pick how a new mirror starts; the file and the document must agree unless told who wins.
async function startMode(open: OpenDocument, path: string, take: 'file' | 'doc' | null): Promise<MirrorStart> {
  let fileText: string | null
  try {
    fileText = await readTextFile(path)
  } catch (err) {
    if (err instanceof SwarmpadError && err.message.endsWith('does not exist; check the path')) fileText = null
    else throw err
  }
  if (take === 'doc') return 'doc'
  if (fileText === null) {
    if (take === 'file') throw SwarmpadError.badArgument(`${path} does not exist; check the path (or drop --from-file to create it from the document)`)
    return 'doc'
  }
  if (take === 'file') return 'file'
  const docText = open.doc.text.toString()
  if (fileText === docText || fileText.length === 0) return 'doc'
  if (docText.length === 0) return 'file'
  throw SwarmpadError.usage(
    `${path} and document "${open.entry.name}" differ; say which one wins with --from-file (the document takes the file's text) or --from-doc (the file is overwritten)`
  )
}

// --- request parsing ---

function param(url: URL, name: string): string {
  const value = url.searchParams.get(name)
  if (value === null || value === '') throw SwarmpadError.usage(`missing "${name}"`)
  return value
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw SwarmpadError.usage(`invalid ${name} "${raw}": expected an integer from ${min} to ${max}`)
  return n
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw SwarmpadError.usage('the request body must be a JSON object')
  return body as Record<string, unknown>
}

function str(b: Record<string, unknown>, key: string): string {
  const v = b[key]
  if (typeof v !== 'string' || v === '') throw SwarmpadError.usage(`missing "${key}"`)
  return v
}

function absolutePath(path: string): string {
  if (!isAbsolute(path) || path.includes('\0')) throw SwarmpadError.usage(`"${path}" is not an absolute path`)
  return path
}

/// The request body as UTF-8 text, at most MAX_FILE_BYTES.
async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_FILE_BYTES) {
      req.resume()
      throw tooLarge('the text', size)
    }
    chunks.push(chunk as Buffer)
  }
  return decodeText(Buffer.concat(chunks), 'the text')
}

/// The value of a check, or a usage error naming the field and the rule.
function checked<T>(result: Checked<T>, field: string): T {
  if (!result.ok) throw SwarmpadError.usage(`invalid ${field}: ${result.problem}`)
  return result.value
}
