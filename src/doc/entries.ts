import c from 'compact-encoding'
import b4a from 'b4a'
import { updatePayload, type FormatVersion } from './blocks.js'
import { codeOfV1Words, refusalWords, type RefusalCode } from './refusals.js'

// Entries of the views apply() writes. Views are derived by every peer from
// the same blocks, so these are trusted in shape; decoders still throw rather
// than guess on damaged storage.

type State = ReturnType<typeof c.state>

/// One accepted update: which member wrote it, at which position of their
/// log, when (their clock), and the Yjs bytes (format V1; decoding inflates
/// what the author deflated).
export interface UpdateEntry {
  member: number
  seq: number
  time: number
  yjs: Uint8Array
  /// Format v2: the file it changes (0 in a single document).
  file?: number
}

/// An update entry as stored: the payload exactly as the block carried it.
export interface StoredUpdateEntry extends UpdateEntry {
  compressed: boolean
}

/// The whole document as of the first `updates` accepted updates.
export interface SnapshotEntry {
  updates: number
  state: Uint8Array
}

/// A block apply() refused, and why: the same list on every peer. A v2 entry
/// holds the code and its numbers (the words are derived here); a v1 entry
/// holds the words of v1 (the code is read back from them).
export interface RejectionEntry {
  writer: Uint8Array
  seq: number
  code: RefusalCode | 0
  args: number[]
  reason: string
}

// Update entries: flags bit 0 deflated; bit 1 (format v2 only) a file
// number follows. A v1 entry never sets bit 1, so one decoder reads both.
const HAS_FILE = 2

const updateEntry = {
  preencode(s: State, e: StoredUpdateEntry) {
    c.uint.preencode(s, e.member)
    c.uint.preencode(s, e.seq)
    c.uint.preencode(s, e.time)
    c.uint8.preencode(s, 0)
    if ((e.file ?? 0) !== 0) c.uint.preencode(s, e.file ?? 0)
    c.buffer.preencode(s, e.yjs)
  },
  encode(s: State, e: StoredUpdateEntry) {
    c.uint.encode(s, e.member)
    c.uint.encode(s, e.seq)
    c.uint.encode(s, e.time)
    const file = e.file ?? 0
    c.uint8.encode(s, (e.compressed ? 1 : 0) | (file !== 0 ? HAS_FILE : 0))
    if (file !== 0) c.uint.encode(s, file)
    c.buffer.encode(s, e.yjs)
  },
  decode(s: State): StoredUpdateEntry {
    const member = c.uint.decode(s)
    const seq = c.uint.decode(s)
    const time = c.uint.decode(s)
    const flags = c.uint8.decode(s)
    const file = (flags & HAS_FILE) !== 0 ? c.uint.decode(s) : 0
    const entry: StoredUpdateEntry = { member, seq, time, compressed: (flags & 1) === 1, yjs: c.buffer.decode(s) ?? b4a.alloc(0) }
    if (file !== 0) entry.file = file
    return entry
  }
}

const snapshotEntry = {
  preencode(s: State, e: SnapshotEntry) {
    c.uint.preencode(s, e.updates)
    c.buffer.preencode(s, e.state)
  },
  encode(s: State, e: SnapshotEntry) {
    c.uint.encode(s, e.updates)
    c.buffer.encode(s, e.state)
  },
  decode(s: State): SnapshotEntry {
    return { updates: c.uint.decode(s), state: c.buffer.decode(s) ?? b4a.alloc(0) }
  }
}

type StoredRejection = Omit<RejectionEntry, 'reason' | 'code'> & { code: number; reason: string }

const rejectionEntryV1 = {
  preencode(s: State, e: StoredRejection) {
    c.fixed32.preencode(s, e.writer)
    c.uint.preencode(s, e.seq)
    c.string.preencode(s, e.reason)
  },
  encode(s: State, e: StoredRejection) {
    c.fixed32.encode(s, e.writer)
    c.uint.encode(s, e.seq)
    c.string.encode(s, e.reason)
  },
  decode(s: State): StoredRejection {
    const writer = c.fixed32.decode(s)
    const seq = c.uint.decode(s)
    const reason = c.string.decode(s)
    return { writer, seq, reason, ...codeOfV1Words(reason) }
  }
}

// v2: `writer seq code:uint count:uint arg:uint × count`, no words.
const rejectionEntryV2 = {
  preencode(s: State, e: StoredRejection) {
    c.fixed32.preencode(s, e.writer)
    c.uint.preencode(s, e.seq)
    c.uint.preencode(s, e.code)
    c.uint.preencode(s, e.args.length)
    for (const a of e.args) c.uint.preencode(s, a)
  },
  encode(s: State, e: StoredRejection) {
    c.fixed32.encode(s, e.writer)
    c.uint.encode(s, e.seq)
    c.uint.encode(s, e.code)
    c.uint.encode(s, e.args.length)
    for (const a of e.args) c.uint.encode(s, a)
  },
  decode(s: State): StoredRejection {
    const writer = c.fixed32.decode(s)
    const seq = c.uint.decode(s)
    const code = c.uint.decode(s)
    const count = c.uint.decode(s)
    if (count > 16) throw new Error('rejection entry: too many numbers')
    const args: number[] = []
    for (let i = 0; i < count; i++) args.push(c.uint.decode(s))
    return { writer, seq, code, args, reason: refusalWords(code, args) }
  }
}

export const encodeUpdateEntry = (e: UpdateEntry & { compressed?: boolean }): Uint8Array =>
  c.encode(updateEntry, { ...e, compressed: e.compressed === true })
/// Decode an update entry; its `yjs` is the plain V1 update (inflated).
export const decodeUpdateEntry = (b: Uint8Array): UpdateEntry => {
  const { compressed, ...entry } = c.decode(updateEntry, b)
  return compressed ? { ...entry, yjs: updatePayload({ yjs: entry.yjs, compressed }) } : entry
}
export const encodeSnapshotEntry = (e: SnapshotEntry): Uint8Array => c.encode(snapshotEntry, e)
export const decodeSnapshotEntry = (b: Uint8Array): SnapshotEntry => c.decode(snapshotEntry, b)
/// Encode a refusal for the view of a document of `format`: v1 writes the
/// words (`reason`, exactly as v1 worded them), v2 the code and its numbers.
export const encodeRejectionEntry = (e: { writer: Uint8Array; seq: number; code: RefusalCode; args?: number[]; reason: string }, format: FormatVersion): Uint8Array =>
  c.encode(format === 1 ? rejectionEntryV1 : rejectionEntryV2, { ...e, args: e.args ?? [] })
export const decodeRejectionEntry = (b: Uint8Array, format: FormatVersion): RejectionEntry =>
  c.decode(format === 1 ? rejectionEntryV1 : rejectionEntryV2, b) as RejectionEntry
