import c from 'compact-encoding'
import b4a from 'b4a'
import { updatePayload } from './blocks.js'

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

/// A block apply() refused, and why: the same list on every peer.
export interface RejectionEntry {
  writer: Uint8Array
  seq: number
  reason: string
}

const updateEntry = {
  preencode(s: State, e: StoredUpdateEntry) {
    c.uint.preencode(s, e.member)
    c.uint.preencode(s, e.seq)
    c.uint.preencode(s, e.time)
    c.uint8.preencode(s, 0)
    c.buffer.preencode(s, e.yjs)
  },
  encode(s: State, e: StoredUpdateEntry) {
    c.uint.encode(s, e.member)
    c.uint.encode(s, e.seq)
    c.uint.encode(s, e.time)
    c.uint8.encode(s, e.compressed ? 1 : 0)
    c.buffer.encode(s, e.yjs)
  },
  decode(s: State): StoredUpdateEntry {
    const member = c.uint.decode(s)
    const seq = c.uint.decode(s)
    const time = c.uint.decode(s)
    const flags = c.uint8.decode(s)
    return { member, seq, time, compressed: flags === 1, yjs: c.buffer.decode(s) ?? b4a.alloc(0) }
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

const rejectionEntry = {
  preencode(s: State, e: RejectionEntry) {
    c.fixed32.preencode(s, e.writer)
    c.uint.preencode(s, e.seq)
    c.string.preencode(s, e.reason)
  },
  encode(s: State, e: RejectionEntry) {
    c.fixed32.encode(s, e.writer)
    c.uint.encode(s, e.seq)
    c.string.encode(s, e.reason)
  },
  decode(s: State): RejectionEntry {
    return { writer: c.fixed32.decode(s), seq: c.uint.decode(s), reason: c.string.decode(s) }
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
export const encodeRejectionEntry = (e: RejectionEntry): Uint8Array => c.encode(rejectionEntry, e)
export const decodeRejectionEntry = (b: Uint8Array): RejectionEntry => c.decode(rejectionEntry, b)
