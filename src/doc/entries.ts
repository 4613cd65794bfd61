import c from 'compact-encoding'
import b4a from 'b4a'

// Entries of the views apply() writes. Views are derived by every peer from
// the same blocks, so these are trusted in shape; decoders still throw rather
// than guess on damaged storage.

type State = ReturnType<typeof c.state>

/// One accepted update: which member wrote it, at which position of their
/// log, when (their clock), and the Yjs bytes.
export interface UpdateEntry {
  member: number
  seq: number
  time: number
  yjs: Uint8Array
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
  preencode(s: State, e: UpdateEntry) {
    c.uint.preencode(s, e.member)
    c.uint.preencode(s, e.seq)
    c.uint.preencode(s, e.time)
    c.buffer.preencode(s, e.yjs)
  },
  encode(s: State, e: UpdateEntry) {
    c.uint.encode(s, e.member)
    c.uint.encode(s, e.seq)
    c.uint.encode(s, e.time)
    c.buffer.encode(s, e.yjs)
  },
  decode(s: State): UpdateEntry {
    return { member: c.uint.decode(s), seq: c.uint.decode(s), time: c.uint.decode(s), yjs: c.buffer.decode(s) ?? b4a.alloc(0) }
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

export const encodeUpdateEntry = (e: UpdateEntry): Uint8Array => c.encode(updateEntry, e)
export const decodeUpdateEntry = (b: Uint8Array): UpdateEntry => c.decode(updateEntry, b)
export const encodeSnapshotEntry = (e: SnapshotEntry): Uint8Array => c.encode(snapshotEntry, e)
export const decodeSnapshotEntry = (b: Uint8Array): SnapshotEntry => c.decode(snapshotEntry, b)
export const encodeRejectionEntry = (e: RejectionEntry): Uint8Array => c.encode(rejectionEntry, e)
export const decodeRejectionEntry = (b: Uint8Array): RejectionEntry => c.decode(rejectionEntry, b)
