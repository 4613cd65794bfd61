// The messages between the editor page and the daemon, on one WebSocket
// (/ws). PROTOCOL.md beside this file describes them in words; this file is
// the single definition both sides compile against (the page bundles it), so
// it imports nothing that needs Node.
import { ChangeSet, Text } from '@codemirror/state'
import type { ErrorCode } from '../errors.js'
import { MAX_INSERT_CHUNK, MAX_NAME_LENGTH, MAX_COLOR_LENGTH } from '../limits.js'

/// Bumped when a message changes incompatibly. The page offers it as the
/// WebSocket subprotocol `swarmpad.v<N>` (PAGE_VERSION_PROTOCOL); the
/// daemon closes a page socket that offers another one, or none, with
/// CLOSE_VERSION (a tab left open across an upgrade: it must reload).
export const PROTOCOL_VERSION = 1
export const PAGE_VERSION_PROTOCOL = `swarmpad.v${PROTOCOL_VERSION}`

/// Largest frame either side sends or accepts (the server's `ws` maxPayload:
/// a larger frame closes the socket with 1009 before it is buffered).
export const MAX_FRAME_BYTES = 8 * 1024 * 1024

/// Most updates in one push. The page sends its unconfirmed updates in pushes
/// of at most this many (and at most PUSH_BUDGET_BYTES).
export const MAX_UPDATES_PER_PUSH = 256

/// Largest number of characters one update may insert. Each update becomes
/// one Yjs transaction, hence one block: all of it is durable or none. The
/// page splits a larger paste into several updates of this size at most.
export const MAX_UPDATE_INSERT = MAX_INSERT_CHUNK

/// What the page aims to put in one push (one update may exceed it alone).
export const PUSH_BUDGET_BYTES = 2 * 1024 * 1024

/// A paste longer than this is inserted as several updates (several
/// transactions grouped into one undo step), so no single frame is huge.
export const PASTE_CHUNK = 256 * 1024

/// Sections in one ChangeSet JSON (two per retained/changed range).
export const MAX_CHANGE_PARTS = 100_000

/// A tab's collab client ID.
export const MAX_CLIENT_ID = 64
const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/

/// A document reference: a local name (at most 64 characters) or a key (hex or z32).
export const MAX_DOC_REF = 128

/// Request ids are small non-negative integers chosen by the page.
export const MAX_RID = 2 ** 31

/// Message rate per socket: a token bucket of this many messages, refilled
/// at MESSAGES_PER_SECOND. Typing sends at most a push and a presence per
/// keystroke; a history slider is throttled by the page.
export const MESSAGE_BURST = 600
export const MESSAGES_PER_SECOND = 300

/// Byte rate per socket: a bucket of BYTES_BURST refilled at BYTES_PER_SECOND.
export const BYTES_BURST = 64 * 1024 * 1024
export const BYTES_PER_SECOND = 16 * 1024 * 1024

/// Requests that do work off the message loop (create, history, restore,
/// members, invites) queue per socket; the socket stops reading while more
/// than PAUSE_QUEUE wait, and is closed with 1008 beyond MAX_QUEUE.
export const PAUSE_QUEUE = 32
export const MAX_QUEUE = 256

/// Data the server buffers for a socket that does not read: beyond this the
/// socket is closed with 1008 (it gets a full resync when it comes back).
export const MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/// Points of the history timeline sent to the page (sampled when longer).
export const MAX_TIMELINE_POINTS = 2000

// --- close codes ---

export const CLOSE_NORMAL = 1000
export const CLOSE_GOING_AWAY = 1001
/// Not JSON, not text, or not UTF-8.
export const CLOSE_INVALID = 1007
/// Unknown type, missing or mistyped field, rate limit, queue overflow.
export const CLOSE_POLICY = 1008
/// Frame over MAX_FRAME_BYTES (sent by `ws` itself).
export const CLOSE_TOO_BIG = 1009
/// The page speaks another PROTOCOL_VERSION (or did not say): reload it.
export const CLOSE_VERSION = 4002

// --- shared shapes ---

/// ChangeSet.toJSON(): numbers (kept lengths) and [deleted, ...inserted lines].
export type ChangeSetJSON = Array<number | [number, ...string[]]>

export type InviteKind = 'writer' | 'owner' | 'reader'
export type SyncState = 'offline' | 'saved' | 'synced'
export type DocRole = 'owner' | 'writer' | 'reader'

export interface WireUpdate {
  clientID: string
  changes: ChangeSetJSON
}

export interface PushedUpdate {
  /// Per tab, strictly increasing: (clientID, seq) names the update for deduplication.
  seq: number
  changes: ChangeSetJSON
}

export interface PresencePeer {
  /// Stable id: a member's writer key (hex), or `tab:<clientID>` for another tab of this device.
  id: string
  name: string
  color: string
  /// Offsets in the text at the message's `version`; null when not known.
  anchor: number | null
  head: number | null
  /// Another tab of this same device (same member).
  local: boolean
}

export interface MemberInfo {
  /// Writer key (hex).
  key: string
  n: number
  name: string
  color: string
  role: 'owner' | 'writer'
  /// Yjs clientID of the member (blame maps characters to members through it).
  clientId: number
  online: boolean
  self: boolean
}

export interface DocumentInfo {
  name: string
  key: string
  role: DocRole
  open: boolean
}

export interface InviteInfo {
  id: string
  kind: InviteKind
  /// The printable invite; only in the reply to invite-create.
  code?: string
  created: number
  expires: number
}

export interface TimelinePoint {
  /// Number of accepted updates folded: 0 = empty document, count = now.
  index: number
  member: number
  time: number
}

/// The value of `remove-member`'s result: with a re-key, the successor's key
/// and how many members will follow (`sealed`) or must be invited again.
export interface RemoveInfo {
  rekey: { key: string; sealed: number; unreachable: number } | null
}

/// [from, to, member n] runs of the text, in order; member -1 = unknown.
export type BlameRun = [number, number, number]

// --- page -> daemon ---

export type ClientMessage =
  | { type: 'documents'; rid?: number }
  | { type: 'create'; rid: number; name: string }
  | { type: 'join'; doc: string; clientID: string; resume: { epoch: string; version: number } | null; nextSeq?: number; jid?: number }
  | { type: 'leave'; doc: string }
  | { type: 'push'; doc: string; rid: number; epoch: string; version: number; updates: PushedUpdate[] }
  | { type: 'presence'; doc: string; epoch: string; version: number; anchor: number; head: number }
  | { type: 'presence'; doc: string; epoch: string; version: number; anchor: null; head: null }
  | { type: 'profile'; doc: string; rid: number; name: string; color: string }
  | { type: 'remove-member'; doc: string; rid: number; key: string; rekey?: boolean }
  | { type: 'history'; doc: string; rid: number }
  | { type: 'history-at'; doc: string; rid: number; index: number; blame: boolean }
  | { type: 'restore'; doc: string; rid: number; index: number }
  | { type: 'invite-create'; doc: string; rid: number; kind: InviteKind }
  | { type: 'invite-list'; doc: string; rid: number }
  | { type: 'invite-cancel'; doc: string; rid: number; id: string }

// --- daemon -> page ---

export interface WelcomeMessage {
  type: 'welcome'
  doc: string
  name: string
  key: string
  /// This run of the authority; a different one after a daemon restart.
  epoch: string
  /// The authority's version now.
  version: number
  /// `resume`: the tab's version is still known: missing updates follow as
  /// `updates` messages. `reset`: the tab starts over from `text`; its
  /// unconfirmed updates with seq <= `applied` are already in it.
  mode: 'resume' | 'reset'
  /// The `jid` of the join this answers: a tab that joined again since
  /// ignores the answers to its earlier joins.
  jid?: number
  text?: string
  applied?: number
  writable: boolean
  role: DocRole
  markdown: boolean
}

export type ServerMessage =
  | WelcomeMessage
  | { type: 'updates'; doc: string; version: number; updates: WireUpdate[] }
  /// A push was applied (`accepted`), or not because the tab is behind (or it
  /// was a replay): the tab pushes again once it has caught up.
  | { type: 'ack'; doc: string; rid: number; version: number; accepted: boolean }
  | { type: 'error'; rid?: number; doc?: string; code: ErrorCode; message: string; resync?: boolean }
  | { type: 'result'; rid: number; doc?: string; value?: unknown }
  | { type: 'presence'; doc: string; version: number; peers: PresencePeer[] }
  | { type: 'status'; doc: string; state: SyncState; label: string; peers: number; saving: boolean; network: boolean }
  | { type: 'members'; doc: string; members: MemberInfo[]; canManage: boolean }
  /// This device's write access changed since the welcome.
  | { type: 'access'; doc: string; writable: boolean }
  | { type: 'documents'; rid?: number; documents: DocumentInfo[] }
  | { type: 'history'; doc: string; rid: number; count: number; first: number; points: TimelinePoint[]; members: MemberInfo[] }
  | { type: 'history-at'; doc: string; rid: number; index: number; text: string; blame: BlameRun[] | null }
  | { type: 'invites'; doc: string; rid: number; available: boolean; invites: InviteInfo[] }

// --- validation of what the page sends ---

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; code: number; reason: string }

const MESSAGE_FIELDS: Record<ClientMessage['type'], readonly string[]> = {
  documents: ['rid?'],
  create: ['rid', 'name'],
  join: ['doc', 'clientID', 'resume', 'nextSeq?', 'jid?'],
  leave: ['doc'],
  push: ['doc', 'rid', 'epoch', 'version', 'updates'],
  presence: ['doc', 'epoch', 'version', 'anchor', 'head'],
  profile: ['doc', 'rid', 'name', 'color'],
  'remove-member': ['doc', 'rid', 'key', 'rekey?'],
  history: ['doc', 'rid'],
  'history-at': ['doc', 'rid', 'index', 'blame'],
  restore: ['doc', 'rid', 'index'],
  'invite-create': ['doc', 'rid', 'kind'],
  'invite-list': ['doc', 'rid'],
  'invite-cancel': ['doc', 'rid', 'id']
}

class ShapeError extends Error {}

function fail(reason: string): never {
  throw new ShapeError(reason)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/// Parse one text frame from the page. Shape errors (not JSON, unknown type,
/// missing or mistyped field, unknown field) close the socket; values of the
/// right type but wrong meaning (a future version, a ChangeSet that does not
/// fit) are left to the authority, which answers with an `error` message.
export function parseClientMessage(raw: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { ok: false, code: CLOSE_INVALID, reason: 'bad-json: frame is not JSON' }
  }
  try {
    return { ok: true, message: checkMessage(value) }
  } catch (err) {
    if (err instanceof ShapeError) return { ok: false, code: CLOSE_POLICY, reason: err.message }
    throw err
  }
}

function checkMessage(v: unknown): ClientMessage {
  if (!isRecord(v)) fail('bad-message: not an object')
  const type = v.type
  if (typeof type !== 'string') fail('bad-field: type')
  if (!Object.prototype.hasOwnProperty.call(MESSAGE_FIELDS, type)) fail(`unknown-type: ${type.slice(0, 40)}`)
  const fields = MESSAGE_FIELDS[type as ClientMessage['type']]
  const allowed = new Set(['type', ...fields.map((f) => f.replace('?', ''))])
  for (const k of Object.keys(v)) if (!allowed.has(k)) fail(`unknown-field: ${k.slice(0, 40)}`)
  for (const f of fields) if (!f.endsWith('?') && !(f in v)) fail(`missing-field: ${f}`)

  if ('rid' in v) checkInt(v.rid, 'rid', 0, MAX_RID)
  if ('doc' in v) checkDocRef(v.doc)

  switch (type as ClientMessage['type']) {
    case 'documents':
    case 'leave':
    case 'history':
    case 'invite-list':
      break
    case 'create':
      checkString(v.name, 'name', 1, 64)
      break
    case 'join': {
      checkString(v.clientID, 'clientID', 1, MAX_CLIENT_ID)
      if (!CLIENT_ID_RE.test(v.clientID as string)) fail('bad-field: clientID')
      const r = v.resume
      if (r !== null) {
        if (!isRecord(r)) fail('bad-field: resume')
        for (const k of Object.keys(r)) if (k !== 'epoch' && k !== 'version') fail(`unknown-field: resume.${k.slice(0, 40)}`)
        checkString(r.epoch, 'resume.epoch', 1, 64)
        checkNumber(r.version, 'resume.version')
      }
      if (v.nextSeq !== undefined && (!Number.isSafeInteger(v.nextSeq) || (v.nextSeq as number) < 0)) fail('bad-field: nextSeq')
      if (v.jid !== undefined && (!Number.isSafeInteger(v.jid) || (v.jid as number) < 0)) fail('bad-field: jid')
      break
    }
    case 'push': {
      checkString(v.epoch, 'epoch', 1, 64)
      checkNumber(v.version, 'version')
      const updates = v.updates
      if (!Array.isArray(updates)) fail('bad-field: updates')
      if (updates.length === 0 || updates.length > MAX_UPDATES_PER_PUSH) fail(`bad-field: updates (1 to ${MAX_UPDATES_PER_PUSH})`)
      for (const u of updates) {
        if (!isRecord(u)) fail('bad-field: updates[]')
        for (const k of Object.keys(u)) if (k !== 'seq' && k !== 'changes') fail(`unknown-field: updates[].${k.slice(0, 40)}`)
        checkInt(u.seq, 'updates[].seq', 0, Number.MAX_SAFE_INTEGER)
        if (!('changes' in u)) fail('missing-field: updates[].changes')
      }
      break
    }
    case 'presence':
      checkString(v.epoch, 'epoch', 1, 64)
      checkNumber(v.version, 'version')
      if (v.anchor === null || v.head === null) {
        if (v.anchor !== null || v.head !== null) fail('bad-field: anchor/head')
      } else {
        checkNumber(v.anchor, 'anchor')
        checkNumber(v.head, 'head')
      }
      break
    case 'profile':
      checkString(v.name, 'name', 0, MAX_NAME_LENGTH)
      checkString(v.color, 'color', 0, MAX_COLOR_LENGTH)
      break
    case 'remove-member':
      checkString(v.key, 'key', 64, 64)
      if (!/^[0-9a-f]{64}$/.test(v.key as string)) fail('bad-field: key')
      if (v.rekey !== undefined && typeof v.rekey !== 'boolean') fail('bad-field: rekey')
      break
    case 'history-at':
      checkNumber(v.index, 'index')
      if (typeof v.blame !== 'boolean') fail('bad-field: blame')
      break
    case 'restore':
      checkNumber(v.index, 'index')
      break
    case 'invite-create':
      if (v.kind !== 'writer' && v.kind !== 'owner' && v.kind !== 'reader') fail('bad-field: kind')
      break
    case 'invite-cancel':
      checkString(v.id, 'id', 1, 128)
      break
  }
  return v as unknown as ClientMessage
}

function checkInt(v: unknown, name: string, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`bad-field: ${name}`)
}

/// A number (any value: the authority answers a non-integer or out-of-range one with an error).
function checkNumber(v: unknown, name: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`bad-field: ${name}`)
}

function checkString(v: unknown, name: string, min: number, max: number): void {
  if (typeof v !== 'string' || v.length < min || v.length > max) fail(`bad-field: ${name}`)
}

function checkDocRef(v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_DOC_REF) fail('bad-field: doc')
}

// --- ChangeSet JSON ---

/// Turn untrusted ChangeSet JSON into a ChangeSet, or throw RangeError with
/// the reason. Stricter than ChangeSet.fromJSON, which accepts negative and
/// fractional lengths and lines holding "\n" (both would make the page's and
/// the daemon's texts differ in length).
export function changeSetFromJSON(json: unknown): ChangeSet {
  if (!Array.isArray(json)) throw new RangeError('Invalid JSON representation of ChangeSet: not an array')
  if (json.length > MAX_CHANGE_PARTS) throw new RangeError(`ChangeSet has more than ${MAX_CHANGE_PARTS} parts`)
  let inserted = 0
  for (const part of json as unknown[]) {
    if (typeof part === 'number') {
      if (!Number.isSafeInteger(part) || part < 0) throw new RangeError('Invalid JSON representation of ChangeSet: bad length')
      continue
    }
    if (!Array.isArray(part) || part.length === 0) throw new RangeError('Invalid JSON representation of ChangeSet')
    const [len, ...lines] = part as unknown[]
    if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0) throw new RangeError('Invalid JSON representation of ChangeSet: bad length')
    for (const line of lines) {
      if (typeof line !== 'string') throw new RangeError('Invalid JSON representation of ChangeSet: inserted line is not a string')
      if (line.includes('\n')) throw new RangeError('Invalid JSON representation of ChangeSet: inserted line holds a line break')
      inserted += line.length + 1
    }
  }
  if (inserted > MAX_UPDATE_INSERT + MAX_CHANGE_PARTS) throw new RangeError(`Update inserts more than ${MAX_UPDATE_INSERT} characters`)
  return ChangeSet.fromJSON(json)
}

/// Characters a ChangeSet inserts.
export function insertedLength(cs: ChangeSet): number {
  let n = 0
  cs.iterChanges((_fa, _ta, fromB, toB) => {
    n += toB - fromB
  })
  return n
}

/// A CodeMirror Text of a string split at "\n" only: "\r" stays a character,
/// so lengths match the daemon's Y.Text (the page sets lineSeparator "\n").
export function textOf(s: string): Text {
  return Text.of(s.split('\n'))
}

/// Is the document name shown with Markdown highlighting?
export function isMarkdownName(name: string): boolean {
  return /\.(md|markdown)$/i.test(name)
}
