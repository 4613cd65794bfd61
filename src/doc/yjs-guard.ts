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
      clock += readStruct(r, client, clock, references)
      if (clock > MAX_YJS_CLOCK) throw new GuardError('clock out of range')
    }
    sections.push({ client, clock: start, length: clock - start })
  }

  const dsClients = r.varuint()
  if (dsClients * 2 > r.remaining) throw new GuardError('delete-set size exceeds input')
  let deleteRanges = 0
  for (let c = 0; c < dsClients; c++) {
    r.varuint() // client
    const ranges = r.varuint()
    if (ranges * 2 > r.remaining) throw new GuardError('delete ranges exceed input')
    deleteRanges += ranges
    if (deleteRanges > MAX_UPDATE_DELETE_RANGES) throw new GuardError('too many delete ranges')
    for (let i = 0; i < ranges; i++) {
      const clock = r.varuint()
      const len = r.varuint()
      if (len === 0 || clock + len > MAX_YJS_CLOCK) throw new GuardError('delete range out of range')
    }
  }
  if (r.remaining !== 0) throw new GuardError('trailing bytes')
  return { clients, sections, references: [...references].map(([client, clock]) => ({ client, clock })), structs, deleteRanges }
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
