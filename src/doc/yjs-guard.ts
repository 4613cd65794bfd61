import {
  MAX_UPDATE_BYTES,
  MAX_UPDATE_DELETE_RANGES,
  MAX_UPDATE_STRUCTS,
  MAX_YJS_CLOCK
} from '../limits.js'

/// The name of the one shared type every swarmpad document holds.
export const TEXT_ROOT = 'text'

/// What a well-formed update touches.
export interface UpdateShape {
  /// Yjs clientIDs that authored structs in the update (each appears once).
  clients: number[]
  /// The clock range each of those clients' structs cover, in the same order:
  /// from `clock` to `clock + length` (exclusive).
  sections: Array<{ client: number; clock: number; length: number }>
  /// For every other client an item refers to (as its left or right
  /// origin), the highest clock referred to: the update builds on that text.
  references: Array<{ client: number; clock: number }>
  /// Number of structs it declares.
  structs: number
  /// Number of delete-set ranges it carries.
  deleteRanges: number
  /// The delete set, flat: `client, clock, length` per range, as written.
  deletes: number[]
  /// The items with deleted content (ref 1), flat `client, clock, length`
  /// (adjacent ones merged): Yjs counts them as deleted on arrival.
  deletedItems: number[]
}

/// The verdict on an untrusted Yjs update: its shape, or why it was refused.
export type GuardResult = { ok: true; shape: UpdateShape } | { ok: false; reason: string }

// Yjs struct info bits (yjs src/structs/Item.js, lib0/binary.js).
const BITS5 = 0b11111
const BIT6 = 0b100000
const BIT7 = 0b1000000
const BIT8 = 0b10000000
const STRUCT_GC = 0
const STRUCT_SKIP = 10
const CONTENT_DELETED = 1
const CONTENT_STRING = 4

class GuardError extends Error {}

// As lib0 decodes Yjs strings: fatal on invalid UTF-8, and a leading U+FEFF is
// a character of the text, not a byte-order mark to drop (dropping it would
// make the guard count a different clock than Yjs and refuse honest edits).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/// A bounds-checked reader: every read fails cleanly at the end of input.
class Reader {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos
  }

  uint8(): number {
    if (this.pos >= this.bytes.length) throw new GuardError('truncated')
    return this.bytes[this.pos++]!
  }

  /// lib0 varuint, at most 7 bytes (49 bits): anything longer is a crafted number.
  varuint(): number {
    let num = 0
    let mult = 1
    for (let i = 0; i < 7; i++) {
      const b = this.uint8()
      num += (b & 0x7f) * mult
      if (b < 0x80) {
        if (i > 0 && b === 0) throw new GuardError('overlong varuint')
        return num
      }
      mult *= 128
    }
    throw new GuardError('varuint too long')
  }

  string(): string {
    const len = this.varuint()
    if (len > this.remaining) throw new GuardError('string runs past the end')
    const slice = this.bytes.subarray(this.pos, this.pos + len)
    this.pos += len
    try {
      return utf8.decode(slice)
    } catch {
      throw new GuardError('string is not UTF-8')
    }
  }
}

/// Check an untrusted Yjs update (format V1) before Yjs sees it.
///
/// Yjs decoders trust their input: crafted updates can hang or exhaust memory
/// (yjs#479, yjs#687). This walks the whole V1 encoding with bounds on every
/// length and count, and accepts only what a swarmpad writer produces: items
/// of plain text or deleted text in the root type `text`, and a delete set.
/// GC and skip structs are refused: a writer's own updates of a root text
/// never hold them (Yjs only turns items of a deleted *nested* type into GCs,
/// and merging one writer's consecutive updates leaves no gaps to skip), and
/// Yjs mishandles items whose origin is a GC (it loses the origin and throws
/// when it later encodes the item). Items may refer to their own client only
/// backwards. It returns the clientIDs that authored the structs, so apply()
/// can check authorship. Pure and total: never throws.
export function guardUpdate(update: Uint8Array): GuardResult {
  if (!(update instanceof Uint8Array)) return { ok: false, reason: 'update is not bytes' }
  if (update.length > MAX_UPDATE_BYTES) {
    return { ok: false, reason: `update of ${update.length} bytes exceeds ${MAX_UPDATE_BYTES}` }
  }
  try {
    return { ok: true, shape: readShape(new Reader(update)) }
  } catch (err) {
    if (err instanceof GuardError) return { ok: false, reason: err.message }
    return { ok: false, reason: 'malformed update' }
  }
}

function readShape(r: Reader): UpdateShape {
  const clients: number[] = []
  const sections: UpdateShape['sections'] = []
  const seen = new Set<number>()
  const references = new Map<number, number>()
  const deletedItems: number[] = []
  let structs = 0

  const sectionCount = r.varuint()
  // Each section needs at least 3 bytes: a count, a client and a clock.
  if (sectionCount * 3 > r.remaining) throw new GuardError('section count exceeds input')
  for (let s = 0; s < sectionCount; s++) {
    const count = r.varuint()
    const client = r.varuint()
    let clock = r.varuint()
    if (seen.has(client)) throw new GuardError(`client ${client} appears twice`)
    seen.add(client)
    clients.push(client)
    // Every struct needs at least 2 bytes.
    if (count === 0 || count * 2 > r.remaining) throw new GuardError('struct count exceeds input')
    structs += count
    if (structs > MAX_UPDATE_STRUCTS) throw new GuardError('too many structs')
    const start = clock
    for (let i = 0; i < count; i++) {
      const before = clock
      const deleted = r.bytes[r.pos]! & BITS5
      clock += readStruct(r, client, clock, references)
      if (clock > MAX_YJS_CLOCK) throw new GuardError('clock out of range')
      if (deleted !== CONTENT_DELETED) continue
      const last = deletedItems.length - 3
      if (last >= 0 && deletedItems[last] === client && deletedItems[last + 1]! + deletedItems[last + 2]! === before) {
        deletedItems[last + 2] = deletedItems[last + 2]! + clock - before
      } else deletedItems.push(client, before, clock - before)
    }
    sections.push({ client, clock: start, length: clock - start })
  }

  const dsClients = r.varuint()
  if (dsClients * 2 > r.remaining) throw new GuardError('delete-set size exceeds input')
  let deleteRanges = 0
  const deletes: number[] = []
  for (let c = 0; c < dsClients; c++) {
    const client = r.varuint()
    const ranges = r.varuint()
    if (ranges * 2 > r.remaining) throw new GuardError('delete ranges exceed input')
    deleteRanges += ranges
    if (deleteRanges > MAX_UPDATE_DELETE_RANGES) throw new GuardError('too many delete ranges')
    for (let i = 0; i < ranges; i++) {
      const clock = r.varuint()
      const len = r.varuint()
      if (len === 0 || clock + len > MAX_YJS_CLOCK) throw new GuardError('delete range out of range')
      deletes.push(client, clock, len)
    }
  }
  if (r.remaining !== 0) throw new GuardError('trailing bytes')
  return {
    clients,
    sections,
    references: [...references].map(([client, clock]) => ({ client, clock })),
    structs,
    deleteRanges,
    deletes,
    deletedItems
  }
}

/// Read one struct of `client` starting at `clock` and return how many clock
/// units it covers.
function readStruct(r: Reader, client: number, clock: number, references: Map<number, number>): number {
  const info = r.uint8()
  const kind = info & BITS5
  if (kind === STRUCT_GC) throw new GuardError('GC struct in an update')
  if (kind === STRUCT_SKIP) throw new GuardError('skip struct in an update')
  const hasOrigin = (info & BIT8) !== 0
  const hasRightOrigin = (info & BIT7) !== 0
  // Yjs assumes an item's references to its own client point backwards (it
  // looks them up without checking they exist): a reference to the item
  // itself or to a later clock makes Y.applyUpdate throw. Refuse it here.
  if (hasOrigin) readId(r, client, clock, references)
  if (hasRightOrigin) readId(r, client, clock, references)
  if (!hasOrigin && !hasRightOrigin) {
    // The parent is written out: it must be the root text type.
    const parentIsRoot = r.varuint()
    if (parentIsRoot !== 1) throw new GuardError('item is nested in another type')
    const key = r.string()
    if (key !== TEXT_ROOT) throw new GuardError(`item belongs to unknown root "${key.slice(0, 32)}"`)
    if ((info & BIT6) !== 0) throw new GuardError('text item has a map key')
  }
  switch (kind) {
    case CONTENT_DELETED: {
      const len = r.varuint()
      if (len === 0) throw new GuardError('empty deleted content')
      return len
    }
    case CONTENT_STRING: {
      const text = r.string()
      if (text.length === 0) throw new GuardError('empty string content')
      return text.length
    }
    default:
      throw new GuardError(`content type ${kind} is not plain text`)
  }
}

function readId(r: Reader, itemClient: number, itemClock: number, references: Map<number, number>): void {
  const client = r.varuint()
  const clock = r.varuint()
  if (clock > MAX_YJS_CLOCK) throw new GuardError('origin clock out of range')
  if (client === itemClient) {
    if (clock >= itemClock) throw new GuardError('item refers to a later clock of its own client')
    return
  }
  const highest = references.get(client)
  if (highest === undefined || clock > highest) references.set(client, clock)
}

/// What a snapshot's state holds, for apply()'s text-length rule: per
/// client, where its structs end (`end`) and which of its clocks are not
/// text (`deleted`, flat sorted `start, end` pairs, disjoint and not
/// touching: deleted items, GC and skip structs, clocks before its first
/// struct, and its delete-set ranges, cut at `end`). The text length is
/// the sum of the ends minus the measure of those ranges.
export interface StateSummary {
  clients: Map<number, { end: number; deleted: number[] }>
}

/// Summarize a snapshot (a Y.mergeUpdates that apply() wrote itself, so
/// trusted, and larger than any one update: no size caps). Accepts what
/// merged guarded updates hold: items of string or deleted content, GC and
/// skip structs. Null on anything else (every peer gets the same null).
export function summarizeState(update: Uint8Array): StateSummary | null {
  try {
    return readSummary(new Reader(update))
  } catch {
    return null
  }
}

function readSummary(r: Reader): StateSummary {
  const raw = new Map<number, { end: number; ranges: number[] }>()
  const sections = r.varuint()
  for (let s = 0; s < sections; s++) {
    const count = r.varuint()
    const client = r.varuint()
    let clock = r.varuint()
    const entry = raw.get(client) ?? { end: 0, ranges: [] }
    raw.set(client, entry)
    if (clock > entry.end) entry.ranges.push(entry.end, clock)
    for (let i = 0; i < count; i++) {
      const info = r.uint8()
      const kind = info & BITS5
      let len: number
      let text = false
      if (kind === STRUCT_GC || kind === STRUCT_SKIP) len = r.varuint()
      else {
        if ((info & BIT8) !== 0) skipId(r)
        if ((info & BIT7) !== 0) skipId(r)
        if ((info & (BIT8 | BIT7)) === 0) {
          if (r.varuint() === 1) r.string()
          else skipId(r)
          if ((info & BIT6) !== 0) r.string()
        }
        if (kind === CONTENT_DELETED) len = r.varuint()
        else if (kind === CONTENT_STRING) {
          len = utf16Units(r)
          text = true
        } else throw new GuardError('not text')
      }
      if (!text && len > 0) entry.ranges.push(clock, clock + len)
      clock += len
    }
    entry.end = Math.max(entry.end, clock)
  }
  const dsClients = r.varuint()
  for (let c = 0; c < dsClients; c++) {
    const client = r.varuint()
    const ranges = r.varuint()
    for (let i = 0; i < ranges; i++) {
      const clock = r.varuint()
      const len = r.varuint()
      const entry = raw.get(client)
      if (entry !== undefined && len > 0 && clock < entry.end) entry.ranges.push(clock, Math.min(entry.end, clock + len))
    }
  }
  const clients = new Map<number, { end: number; deleted: number[] }>()
  for (const [client, { end, ranges }] of raw) clients.set(client, { end, deleted: normalizeRanges(ranges) })
  return { clients }
}

function skipId(r: Reader): void {
  r.varuint()
  r.varuint()
}

/// The UTF-16 length of the next string, counted from its UTF-8 bytes
/// without decoding it (a snapshot may hold tens of millions of characters).
function utf16Units(r: Reader): number {
  const len = r.varuint()
  if (len > r.remaining) throw new GuardError('string runs past the end')
  let units = 0
  const b = r.bytes
  for (let i = r.pos, end = r.pos + len; i < end; i++) {
    const x = b[i]!
    if ((x & 0xc0) !== 0x80) units += x >= 0xf0 ? 2 : 1
  }
  r.pos += len
  return units
}

/// Flat `start, end` pairs, in any order and overlapping: sorted, merged
/// (touching ones too), empty ones dropped.
export function normalizeRanges(ranges: number[]): number[] {
  const pairs: Array<[number, number]> = []
  for (let i = 0; i + 1 < ranges.length; i += 2) if (ranges[i + 1]! > ranges[i]!) pairs.push([ranges[i]!, ranges[i + 1]!])
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const out: number[] = []
  for (const [s, e] of pairs) {
    const n = out.length
    if (n > 0 && s <= out[n - 1]!) out[n - 1] = Math.max(out[n - 1]!, e)
    else out.push(s, e)
  }
  return out
}
