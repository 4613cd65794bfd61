import c from 'compact-encoding'
import b4a from 'b4a'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { MAX_BLOCK_BYTES, MAX_INFLATE_RATIO, MAX_NAME_LENGTH, MAX_UPDATE_BYTES, MIN_INFLATE_ALLOWANCE } from '../limits.js'
import { hasLoneSurrogate, wireColorProblem, wireMemberNameProblem } from '../values.js'

/// The newest block format this build understands, and the one it writes in
/// the documents it creates. A document keeps the format it was created in
/// (a v1 document gets v1 blocks from every build); a block of a higher
/// version stops the document ("upgrade swarmpad").
export const BLOCK_VERSION = 2

/// Format versions: 1 (the first release), 2 (refusal codes, size-based
/// snapshots, file numbers, exact re-key seeds).
export type FormatVersion = 1 | 2

/// Member roles. Owners are indexers and manage membership; writers edit.
export type Role = 'owner' | 'writer'

/// A 32-byte public key (a writer core key).
export type Key = Uint8Array

export interface UpdateBlock {
  kind: 'update'
  /// Author's wall clock in ms (informational: used for history, never for order).
  time: number
  /// One Yjs update in format V1, deflated (raw DEFLATE) when `compressed`.
  yjs: Uint8Array
  /// The author deflated `yjs` (it does so only when that saves space).
  compressed?: boolean
  /// Format v2: which file of the document it changes (a single document has
  /// one, 0; a shared folder numbers its files). Absent means 0.
  file?: number
}

export interface AddWriterBlock {
  kind: 'add-writer'
  key: Key
  role: Role
  /// Format v2: the Yjs clientID this member continues (a re-key's follower
  /// keeps typing as the client it was in the old document, whose text the
  /// seed holds). Null or absent: the clientID derived from `key`.
  continues?: number | null
}

/// Format v2, the creator's first block: what kind of document this is.
export interface GenesisBlock {
  kind: 'genesis'
  /// 0: a document (one text). Other values are for later builds (a shared
  /// folder): a build that does not know one stops the document.
  type: number
}

/// Format v2, a re-key successor's first update: the old document's whole
/// Yjs state with its item identities (every writer's clientID and clocks),
/// so that edits carried over from the old document apply exactly.
export interface SeedBlock {
  kind: 'seed'
  yjs: Uint8Array
  compressed?: boolean
}

export interface RemoveWriterBlock {
  kind: 'remove-writer'
  key: Key
}

export interface ProfileBlock {
  kind: 'profile'
  name: string
  color: string
  /// The device (swarm) public key this writer's presence comes from, if any.
  device: Key | null
}

export interface MetaBlock {
  kind: 'meta'
  /// A title shown instead of the local name, empty when unset.
  title: string
}

/// Written by an owner when the document moved to a successor (re-key).
/// The successor's key and encryption key are sealed to each remaining member.
export interface MovedBlock {
  kind: 'moved'
  key: Key
  sealed: Array<{ writer: Key; box: Uint8Array }>
}

export type Block = UpdateBlock | AddWriterBlock | RemoveWriterBlock | ProfileBlock | MetaBlock | MovedBlock | GenesisBlock | SeedBlock

/// The result of decoding an untrusted block.
export type DecodeResult =
  | { ok: true; block: Block; version: FormatVersion }
  | { ok: false; newerVersion: number }
  | { ok: false; newerVersion: null; reason: string }

const KIND_TAGS = {
  update: 1,
  'add-writer': 2,
  'remove-writer': 3,
  profile: 4,
  meta: 5,
  moved: 6,
  genesis: 7,
  seed: 8
} as const

/// Kinds and fields that exist only from format v2 on.
const V2_KINDS = new Set<Block['kind']>(['genesis', 'seed'])

const ROLE_TAGS = { owner: 1, writer: 2 } as const

const MAX_SEALED = 1000
const MAX_SEALED_BOX = 256

type State = ReturnType<typeof c.state>

function preencodeBody(state: State, block: Block, version: FormatVersion): void {
  switch (block.kind) {
    case 'update':
      c.uint.preencode(state, block.time)
      c.uint8.preencode(state, 0)
      if (version >= 2) c.uint.preencode(state, block.file ?? 0)
      c.buffer.preencode(state, block.yjs)
      break
    case 'add-writer':
      c.fixed32.preencode(state, block.key)
      c.uint8.preencode(state, 0)
      if (version >= 2) {
        c.uint8.preencode(state, 0)
        if (block.continues != null) c.uint32.preencode(state, block.continues)
      }
      break
    case 'genesis':
      c.uint.preencode(state, block.type)
      break
    case 'seed':
      c.uint8.preencode(state, 0)
      c.buffer.preencode(state, block.yjs)
      break
    case 'remove-writer':
      c.fixed32.preencode(state, block.key)
      break
    case 'profile':
      c.string.preencode(state, block.name)
      c.string.preencode(state, block.color)
      c.uint8.preencode(state, 0)
      if (block.device) c.fixed32.preencode(state, block.device)
      break
    case 'meta':
      c.string.preencode(state, block.title)
      break
    case 'moved':
      c.fixed32.preencode(state, block.key)
      c.uint.preencode(state, block.sealed.length)
      for (const s of block.sealed) {
        c.fixed32.preencode(state, s.writer)
        c.buffer.preencode(state, s.box)
      }
      break
  }
}

function encodeBody(state: State, block: Block, version: FormatVersion): void {
  switch (block.kind) {
    case 'update':
      c.uint.encode(state, block.time)
      c.uint8.encode(state, block.compressed ? 1 : 0)
      if (version >= 2) c.uint.encode(state, block.file ?? 0)
      c.buffer.encode(state, block.yjs)
      break
    case 'add-writer':
      c.fixed32.encode(state, block.key)
      c.uint8.encode(state, ROLE_TAGS[block.role])
      if (version >= 2) {
        c.uint8.encode(state, block.continues != null ? 1 : 0)
        if (block.continues != null) c.uint32.encode(state, block.continues)
      }
      break
    case 'genesis':
      c.uint.encode(state, block.type)
      break
    case 'seed':
      c.uint8.encode(state, block.compressed ? 1 : 0)
      c.buffer.encode(state, block.yjs)
      break
    case 'remove-writer':
      c.fixed32.encode(state, block.key)
      break
    case 'profile':
      c.string.encode(state, block.name)
      c.string.encode(state, block.color)
      c.uint8.encode(state, block.device ? 1 : 0)
      if (block.device) c.fixed32.encode(state, block.device)
      break
    case 'meta':
      c.string.encode(state, block.title)
      break
    case 'moved':
      c.fixed32.encode(state, block.key)
      c.uint.encode(state, block.sealed.length)
      for (const s of block.sealed) {
        c.fixed32.encode(state, s.writer)
        c.buffer.encode(state, s.box)
      }
      break
  }
}

/// Encode a block in format `version` (the document's: a v1 document gets v1
/// blocks). Throws on values this build would itself refuse to decode (so a
/// bad local block never reaches the log), and on a kind or field the
/// version does not have.
export function encodeBlock(block: Block, version: FormatVersion = BLOCK_VERSION): Uint8Array {
  const problem = checkBlock(block) ?? versionProblem(block, version)
  if (problem !== null) throw new RangeError(`Invalid ${block.kind} block: ${problem}`)
  const state = c.state()
  c.uint.preencode(state, version)
  c.uint8.preencode(state, 0)
  preencodeBody(state, block, version)
  state.buffer = b4a.allocUnsafe(state.end)
  c.uint.encode(state, version)
  c.uint8.encode(state, KIND_TAGS[block.kind])
  encodeBody(state, block, version)
  if (state.end > MAX_BLOCK_BYTES) {
    throw new RangeError(`Block of ${state.end} bytes exceeds ${MAX_BLOCK_BYTES}`)
  }
  return state.buffer
}

/// Decode an untrusted block. Total: never throws.
///
/// Rejected: empty or over-cap input, unknown kinds, truncation, trailing
/// bytes, non-canonical encodings (overlong varints, invalid UTF-8: a block
/// must re-encode to exactly its own bytes) and values outside their rules.
/// A version above BLOCK_VERSION is reported separately: the caller must stop,
/// not skip, because a newer peer may rely on it.
export function decodeBlock(bytes: Uint8Array): DecodeResult {
  const fail = (reason: string): DecodeResult => ({ ok: false, newerVersion: null, reason })
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return fail('empty block')
  if (bytes.length > MAX_BLOCK_BYTES) return fail(`block of ${bytes.length} bytes exceeds ${MAX_BLOCK_BYTES}`)
  let block: Block
  let version: FormatVersion
  try {
    const state = c.state(0, bytes.length, bytes)
    const v = c.uint.decode(state)
    if (v > BLOCK_VERSION) return { ok: false, newerVersion: v }
    if (v < 1) return fail(`unknown block version ${v}`)
    version = v === 1 ? 1 : 2
    const tag = c.uint8.decode(state)
    block = decodeBody(state, tag, version)
    if (state.start !== state.end) return fail('trailing bytes')
  } catch (err) {
    return fail(err instanceof Error && err.message.startsWith('block:') ? err.message.slice(7) : 'truncated or malformed block')
  }
  const problem = checkBlock(block)
  if (problem !== null) return fail(problem)
  let again: Uint8Array
  try {
    again = encodeBlock(block, version)
  } catch {
    return fail('block does not re-encode')
  }
  if (!b4a.equals(again, bytes)) return fail('non-canonical encoding')
  return { ok: true, block, version }
}

/// Why `block` cannot be written in format `version`, or null.
function versionProblem(block: Block, version: FormatVersion): string | null {
  if (version >= 2) return null
  if (V2_KINDS.has(block.kind)) return `a ${block.kind} block needs format 2`
  if (block.kind === 'update' && (block.file ?? 0) !== 0) return 'a file number needs format 2'
  if (block.kind === 'add-writer' && block.continues != null) return 'continuing a client needs format 2'
  return null
}

function decodeBody(state: State, tag: number, version: FormatVersion): Block {
  switch (tag) {
    case KIND_TAGS.update: {
      const time = c.uint.decode(state)
      const flags = c.uint8.decode(state)
      if (flags > 1) throw new Error(`block: unknown update flags ${flags}`)
      const file = version >= 2 ? c.uint.decode(state) : 0
      const yjs = c.buffer.decode(state) ?? b4a.alloc(0)
      const block: UpdateBlock = flags === 1 ? { kind: 'update', time, yjs, compressed: true } : { kind: 'update', time, yjs }
      if (file !== 0) block.file = file
      return block
    }
    case KIND_TAGS['add-writer']: {
      const key = c.fixed32.decode(state)
      const roleTag = c.uint8.decode(state)
      const role = roleTag === ROLE_TAGS.owner ? 'owner' : roleTag === ROLE_TAGS.writer ? 'writer' : null
      if (role === null) throw new Error(`block: unknown role ${roleTag}`)
      if (version < 2) return { kind: 'add-writer', key, role }
      const flags = c.uint8.decode(state)
      if (flags > 1) throw new Error(`block: unknown add-writer flags ${flags}`)
      return flags === 1 ? { kind: 'add-writer', key, role, continues: c.uint32.decode(state) } : { kind: 'add-writer', key, role }
    }
    case KIND_TAGS.genesis:
      if (version < 2) throw new Error(`block: unknown block kind ${tag}`)
      return { kind: 'genesis', type: c.uint.decode(state) }
    case KIND_TAGS.seed: {
      if (version < 2) throw new Error(`block: unknown block kind ${tag}`)
      const flags = c.uint8.decode(state)
      if (flags > 1) throw new Error(`block: unknown seed flags ${flags}`)
      const yjs = c.buffer.decode(state) ?? b4a.alloc(0)
      return flags === 1 ? { kind: 'seed', yjs, compressed: true } : { kind: 'seed', yjs }
    }
    case KIND_TAGS['remove-writer']:
      return { kind: 'remove-writer', key: c.fixed32.decode(state) }
    case KIND_TAGS.profile: {
      const name = c.string.decode(state)
      const color = c.string.decode(state)
      const flags = c.uint8.decode(state)
      if (flags > 1) throw new Error(`block: unknown profile flags ${flags}`)
      const device = flags === 1 ? c.fixed32.decode(state) : null
      return { kind: 'profile', name, color, device }
    }
    case KIND_TAGS.meta:
      return { kind: 'meta', title: c.string.decode(state) }
    case KIND_TAGS.moved: {
      const key = c.fixed32.decode(state)
      const count = c.uint.decode(state)
      if (count > MAX_SEALED) throw new Error('block: too many sealed keys')
      const sealed: MovedBlock['sealed'] = []
      for (let i = 0; i < count; i++) {
        sealed.push({ writer: c.fixed32.decode(state), box: c.buffer.decode(state) ?? b4a.alloc(0) })
      }
      return { kind: 'moved', key, sealed }
    }
    default:
      throw new Error(`block: unknown block kind ${tag}`)
  }
}


/// Rules on values that the byte layout alone cannot express. Null when fine.
export function checkBlock(block: Block): string | null {
  switch (block.kind) {
    case 'update':
      if (!Number.isSafeInteger(block.time) || block.time < 0) return 'time must be a non-negative integer'
      if (block.yjs.length === 0) return 'empty update'
      if (block.file !== undefined && (!Number.isSafeInteger(block.file) || block.file < 0)) return 'file must be a non-negative integer'
      return null
    case 'seed':
      return block.yjs.length === 0 ? 'empty seed' : null
    case 'genesis':
      return Number.isSafeInteger(block.type) && block.type >= 0 ? null : 'type must be a non-negative integer'
    case 'add-writer':
      if (block.continues != null && !(Number.isInteger(block.continues) && block.continues >= 0 && block.continues <= 0xffffffff)) return 'continued client must be a uint32'
      return block.key.length === 32 ? null : 'key must be 32 bytes'
    case 'remove-writer':
      return block.key.length === 32 ? null : 'key must be 32 bytes'
    case 'profile':
      return wireMemberNameProblem(block.name) ?? wireColorProblem(block.color)
    case 'meta':
      if (block.title.length > MAX_NAME_LENGTH * 4) return 'title too long'
      return hasLoneSurrogate(block.title) ? 'title is not valid UTF-16 (lone surrogate)' : null
    case 'moved':
      if (block.sealed.length > MAX_SEALED) return 'too many sealed keys'
      for (const s of block.sealed) if (s.box.length > MAX_SEALED_BOX) return 'sealed key too large'
      return null
  }
}

/// Payloads smaller than this are never deflated: a keystroke's update is
/// tens of bytes and would only grow.
const COMPRESS_MIN_BYTES = 256

/// The update block for a local Yjs update: deflated when that saves at
/// least a tenth (text updates deflate to about half), and sent as it is
/// when it would inflate past `inflateCap` (apply() would refuse it).
export function updateBlock(yjs: Uint8Array, time: number): UpdateBlock {
  if (yjs.length >= COMPRESS_MIN_BYTES) {
    const deflated = deflateRawSync(yjs)
    if (deflated.length <= yjs.length * 0.9 && yjs.length <= inflateCap(deflated.length)) {
      return { kind: 'update', time, yjs: deflated, compressed: true }
    }
  }
  return { kind: 'update', time, yjs }
}

/// How large a deflated payload of `deflatedLength` bytes may inflate in a
/// block that apply() accepts: MAX_INFLATE_RATIO times its size, at least
/// MIN_INFLATE_ALLOWANCE, never past MAX_UPDATE_BYTES.
export function inflateCap(deflatedLength: number): number {
  return Math.min(MAX_UPDATE_BYTES, Math.max(MIN_INFLATE_ALLOWANCE, deflatedLength * MAX_INFLATE_RATIO))
}

/// The Yjs update (format V1) an update block or entry carries. Inflating
/// stops at `cap` bytes of output (zlib's maxOutputLength), so a small block
/// cannot expand into a huge update; throws on a damaged or over-cap stream
/// (deterministically: the same bytes fail the same way on every peer).
/// apply() passes `inflateCap(payload.yjs.length)`; entries already in the
/// view are read with the default cap, which older builds accepted them under.
export function updatePayload(payload: { yjs: Uint8Array; compressed?: boolean }, cap: number = MAX_UPDATE_BYTES): Uint8Array {
  if (!payload.compressed) return payload.yjs
  return inflateRawSync(payload.yjs, { maxOutputLength: Math.max(1, Math.min(cap, MAX_UPDATE_BYTES)) })
}
