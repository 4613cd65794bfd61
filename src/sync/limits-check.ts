// What apply() checks an update against besides the update itself: the state
// of the document in the view. Everything here is derived from the views only
// (never from time, local settings or what this peer happens to hold), so
// every peer that applies the same blocks decides the same way, whatever the
// batches and however often it restarted. See PROTOCOL.md, "Limits that
// depend on the document".
import * as Y from 'yjs'
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type { Membership, Member } from '../doc/membership.js'
import type { FormatVersion } from '../doc/blocks.js'
import { decodeRejectionEntry, decodeSnapshotEntry, decodeUpdateEntry } from '../doc/entries.js'
import { Refusal, refuse, type Verdict } from '../doc/refusals.js'
import { guardUpdate, summarizeState, normalizeRanges, type UpdateShape } from '../doc/yjs-guard.js'
import {
  MAX_TEXT_LENGTH,
  QUOTA_REJECTIONS_PER_WINDOW,
  QUOTA_REJECTIONS_TAIL,
  QUOTA_SMALL_UPDATE,
  QUOTA_WINDOW_BLOCKS,
  QUOTA_WINDOW_BYTES,
  SNAPSHOT_INTERVAL,
  SNAPSHOT_MIN_BYTES
} from '../limits.js'

/// The views these checks read (a DocumentView has them).
export interface CheckedView {
  updates: Hypercore
  snapshots: Hypercore
  rejections: Hypercore
}

/// The document-dependent limits apply() enforces. Part of the protocol:
/// every peer of a document must use APPLY_LIMITS (other values exist for
/// tests that drive apply() with small numbers).
export interface ApplyLimits {
  maxTextLength: number
  quotaWindowBlocks: number
  quotaWindowBytes: number
  quotaSmallUpdate: number
  rejectionsPerWindow: number
  rejectionsTail: number
}

export const APPLY_LIMITS: Readonly<ApplyLimits> = Object.freeze({
  maxTextLength: MAX_TEXT_LENGTH,
  quotaWindowBlocks: QUOTA_WINDOW_BLOCKS,
  quotaWindowBytes: QUOTA_WINDOW_BYTES,
  quotaSmallUpdate: QUOTA_SMALL_UPDATE,
  rejectionsPerWindow: QUOTA_REJECTIONS_PER_WINDOW,
  rejectionsTail: QUOTA_REJECTIONS_TAIL
})

/// Refusals of these checks (v1 documents keep these words in their views).
export const REASONS = {
  unknownDelete: refuse(Refusal.UNKNOWN_DELETE, 'update deletes text of an unknown writer'),
  missingDelete: refuse(Refusal.MISSING_DELETE, 'update deletes text that is not in the document'),
  tooLong: refuse(Refusal.TOO_LONG, 'update would make the text longer than the limit'),
  overQuota: refuse(Refusal.OVER_QUOTA, 'writer is over its quota of update bytes')
} as const

/// Deleted clocks per client: for each, flat sorted `start, end` pairs,
/// disjoint and not touching. `measure` is how many clocks they cover.
export class ClockSet {
  private sets = new Map<number, number[]>()
  measure = 0

  set(client: number, ranges: number[]): void {
    const old = this.sets.get(client)
    if (old !== undefined) this.measure -= measureOf(old)
    this.sets.set(client, ranges)
    this.measure += measureOf(ranges)
  }

  /// The clocks of `ranges` (flat `start, end` pairs, sorted and disjoint)
  /// that are not in the set, as sorted disjoint pairs.
  missing(client: number, ranges: number[]): number[] {
    const iv = this.sets.get(client)
    if (iv === undefined) return ranges.slice()
    const out: number[] = []
    for (let r = 0; r < ranges.length; r += 2) {
      const s = ranges[r]!
      const e = ranges[r + 1]!
      let i = firstEndAfter(iv, s)
      let cur = s
      for (; i < iv.length / 2 && iv[2 * i]! < e; i++) {
        if (iv[2 * i]! > cur) out.push(cur, iv[2 * i]!)
        cur = Math.max(cur, iv[2 * i + 1]!)
      }
      if (cur < e) out.push(cur, e)
    }
    return out
  }

  /// Add `pieces` (sorted, disjoint, none of them in the set).
  insert(client: number, pieces: number[]): void {
    if (pieces.length === 0) return
    this.measure += measureOf(pieces)
    const iv = this.sets.get(client) ?? []
    this.sets.set(client, iv)
    if (pieces.length > 64) {
      this.sets.set(client, mergeDisjoint(iv, pieces))
      return
    }
    for (let p = 0; p < pieces.length; p += 2) {
      const s = pieces[p]!
      const e = pieces[p + 1]!
      const pos = firstStartAfter(iv, s)
      const prev = pos - 1
      const touchPrev = prev >= 0 && iv[2 * prev + 1] === s
      const touchNext = pos < iv.length / 2 && iv[2 * pos] === e
      if (touchPrev && touchNext) {
        iv[2 * prev + 1] = iv[2 * pos + 1]!
        iv.splice(2 * pos, 2)
      } else if (touchPrev) iv[2 * prev + 1] = e
      else if (touchNext) iv[2 * pos] = s
      else iv.splice(2 * pos, 0, s, e)
    }
  }

  /// Take out `pieces` that `insert` added (each lies inside one range).
  remove(client: number, pieces: number[]): void {
    if (pieces.length === 0) return
    const iv = this.sets.get(client)
    if (iv === undefined) return
    this.measure -= measureOf(pieces)
    if (pieces.length > 64) {
      this.sets.set(client, subtractContained(iv, pieces))
      return
    }
    for (let p = 0; p < pieces.length; p += 2) {
      const s = pieces[p]!
      const e = pieces[p + 1]!
      const k = firstStartAfter(iv, s) - 1
      if (k < 0) continue
      const a = iv[2 * k]!
      const b = iv[2 * k + 1]!
      const keep: number[] = []
      if (a < s) keep.push(a, s)
      if (e < b) keep.push(e, b)
      iv.splice(2 * k, 2, ...keep)
    }
  }
}

function measureOf(ranges: number[]): number {
  let m = 0
  for (let i = 0; i < ranges.length; i += 2) m += ranges[i + 1]! - ranges[i]!
  return m
}

/// Index of the first range whose end is past `x`.
function firstEndAfter(iv: number[], x: number): number {
  let lo = 0
  let hi = iv.length / 2
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (iv[2 * mid + 1]! > x) hi = mid
    else lo = mid + 1
  }
  return lo
}

/// Index of the first range whose start is past `x`.
function firstStartAfter(iv: number[], x: number): number {
  let lo = 0
  let hi = iv.length / 2
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (iv[2 * mid]! > x) hi = mid
    else lo = mid + 1
  }
  return lo
}

/// The union of two sorted lists of disjoint ranges (disjoint from each other), touching ones merged.
function mergeDisjoint(a: number[], b: number[]): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    let s: number
    let e: number
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) {
      s = a[i]!
      e = a[i + 1]!
      i += 2
    } else {
      s = b[j]!
      e = b[j + 1]!
      j += 2
    }
    const n = out.length
    if (n > 0 && out[n - 1]! >= s) out[n - 1] = Math.max(out[n - 1]!, e)
    else out.push(s, e)
  }
  return out
}

/// `iv` without `pieces` (sorted, each inside one range of `iv`).
function subtractContained(iv: number[], pieces: number[]): number[] {
  const out: number[] = []
  let j = 0
  for (let i = 0; i < iv.length; i += 2) {
    let cur = iv[i]!
    const end = iv[i + 1]!
    for (; j < pieces.length && pieces[j]! < end; j += 2) {
      if (pieces[j]! > cur) out.push(cur, pieces[j]!)
      cur = Math.max(cur, pieces[j + 1]!)
    }
    if (cur < end) out.push(cur, end)
  }
  return out
}

/// The clocks an update would newly delete, per client, and how many.
export interface TextPlan {
  pieces: Map<number, number[]>
  added: number
}

/// The length of the text of the view: all clocks of all clients minus the
/// deleted ones. `known` is false when the newest snapshot could not be
/// summarized (then the length rule is not applied: the same on every peer).
class TextLength {
  total = 0
  readonly deleted = new ClockSet()
  known = true

  get length(): number {
    return this.total - this.deleted.measure
  }

  plan(shape: UpdateShape): TextPlan {
    const byClient = new Map<number, number[]>()
    const add = (flat: number[]) => {
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const client = flat[i]!
        let list = byClient.get(client)
        if (list === undefined) byClient.set(client, (list = []))
        list.push(flat[i + 1]!, flat[i + 1]! + flat[i + 2]!)
      }
    }
    add(shape.deletes)
    add(shape.deletedItems)
    const pieces = new Map<number, number[]>()
    let added = 0
    for (const [client, list] of byClient) {
      const missing = this.deleted.missing(client, normalizeRanges(list))
      if (missing.length === 0) continue
      pieces.set(client, missing)
      added += measureOf(missing)
    }
    return { pieces, added }
  }

  commit(plan: TextPlan, inserted: number): void {
    this.total += inserted
    for (const [client, p] of plan.pieces) this.deleted.insert(client, p)
  }

  revert(plan: TextPlan, inserted: number): void {
    this.total -= inserted
    for (const [client, p] of plan.pieces) this.deleted.remove(client, p)
  }
}

interface Undo {
  member: number
  /// Each client whose next clock the entry moved, and its clock before.
  clocks: Array<[number, number | undefined]>
  quota: { window: number; bytes: number } | undefined
  plan: TextPlan | null
  inserted: number
  entryBytes: number
}

const memberMaps = new WeakMap<Membership, Map<number, Member>>()
function byClientId(membership: Membership): Map<number, Member> {
  let map = memberMaps.get(membership)
  if (map === undefined) memberMaps.set(membership, (map = new Map(membership.members.map((m) => [m.clientId, m]))))
  return map
}

/// Whether a view of `format` takes a snapshot after an update: v1 every
/// SNAPSHOT_INTERVAL updates; v2 also when the update bytes since the newest
/// snapshot reach the larger of SNAPSHOT_MIN_BYTES and that snapshot's own
/// size (so a document typed in bursts gets snapshots, and merging them
/// costs at most about as much as the bytes that led to them).
export function snapshotDue(format: FormatVersion, since: { updates: number; bytes: number; snapshotBytes: number }, totalUpdates: number): boolean {
  if (format === 1) return totalUpdates % SNAPSHOT_INTERVAL === 0
  return since.updates >= SNAPSHOT_INTERVAL || since.bytes >= Math.max(SNAPSHOT_MIN_BYTES, since.snapshotBytes)
}

/// The state of the document as of the `updates` view, kept incrementally
/// with an undo log so a truncation (an Autobase reorder) rolls it back, and
/// rebuilt from the newest snapshot and the entries after it when the view
/// moved in a way it did not follow (first use, a fast-forward, a truncation
/// deeper than the undo log or across a snapshot):
///
/// - the next Yjs clock of every client with text: where its member's next
///   accepted update must start, and below which its text exists (in v2 a
///   seed brings clients of the old document, continued by followers);
/// - the length of the text (all clocks minus the deleted ones);
/// - each member's accepted update bytes in its current quota window (the
///   runs of its log, since the newest snapshot);
/// - the updates and bytes since the newest snapshot (when the next is due).
///
/// Every entry of a view is appended by apply() and every truncation shows
/// as a shorter view at the next call, so for one view object its length
/// says where the state is. But Autobase makes its apply state, and with it
/// the view object, again (after a fast-forward, a reboot), and the new view
/// may have any length, the old one's included. Clocks kept for the old view
/// made apply() refuse good updates ("does not continue its writer's text")
/// on that peer only, which then never converged (partition-chaos, under
/// restarts). So the cache also keeps the view object it follows.
export class WriterClocks {
  private clocks = new Map<number, number>()
  private text = new TextLength()
  private quota = new Map<number, { window: number; bytes: number }>()
  /// One record per update entry from index `base`.
  private undo: Undo[] = []
  private base = 0
  private length = -1
  private view: CheckedView | null = null
  /// The newest snapshot: how many updates it covers and its state's size;
  /// and the entry bytes after it.
  private snapshotAt = 0
  private snapshotBytes = 0
  private bytesSince = 0
  private static readonly MAX_UNDO = 4096

  /// The next clock of a Yjs client (0: it has no text in the document).
  next(client: number): number {
    return this.clocks.get(client) ?? 0
  }

  /// Updates and bytes since the newest snapshot, and its size.
  get sinceSnapshot(): { updates: number; bytes: number; snapshotBytes: number } {
    return { updates: this.length - this.snapshotAt, bytes: this.bytesSince, snapshotBytes: this.snapshotBytes }
  }

  /// The length of the text of the view (UTF-16 units), or null when unknown.
  get textLength(): number | null {
    return this.text.known ? this.text.length : null
  }

  /// Why an update deletes text that is not in the document, or null. A
  /// deletion may cover only clocks that exist: below a client's next clock,
  /// or within the update's own new text (`ends`: for each client the update
  /// writes, where its new text ends).
  deletionProblem(shape: UpdateShape, membership: Membership, ends: ReadonlyMap<number, number>): Verdict | null {
    const members = byClientId(membership)
    const d = shape.deletes
    for (let i = 0; i < d.length; i += 3) {
      const client = d[i]!
      const limit = ends.get(client) ?? this.next(client)
      if (limit === 0 && !members.has(client)) return REASONS.unknownDelete
      if (d[i + 1]! + d[i + 2]! > limit) return REASONS.missingDelete
    }
    return null
  }

  /// Why an update builds on text that is not in the document (every item it
  /// refers to must be accepted text), or null when it does not.
  /// `ends`: for each client the update itself writes, where its new text
  /// ends (text the update brings may be built on within it).
  referenceProblem(references: Array<{ client: number; clock: number }>, membership: Membership, ends: ReadonlyMap<number, number> = new Map()): Verdict | null {
    const members = byClientId(membership)
    for (const ref of references) {
      const next = ends.get(ref.client) ?? this.next(ref.client)
      if (next === 0 && !members.has(ref.client)) return refuse(Refusal.UNKNOWN_REFERENCE, 'update builds on text of an unknown writer')
      if (ref.clock >= next) return refuse(Refusal.MISSING_REFERENCE, 'update builds on text that is not in the document')
    }
    return null
  }

  /// What an update would newly delete (null when the length is unknown).
  planText(shape: UpdateShape): TextPlan | null {
    return this.text.known ? this.text.plan(shape) : null
  }

  /// Whether accepting an update (its plan and `inserted` new clocks) takes
  /// the text over `max`: refused when the text would grow past it.
  tooLong(plan: TextPlan | null, inserted: number, max: number): boolean {
    if (plan === null) return false
    const after = this.text.length + inserted - plan.added
    return after > max && after > this.text.length
  }

  /// Whether a block of `member` at log position `seq` with a payload of
  /// `bytes` is over its quota: its accepted bytes in the same quota window
  /// (the same run of quotaWindowBlocks of its log, in this snapshot
  /// interval) plus this payload exceed quotaWindowBytes. Small updates are
  /// never over.
  overQuota(member: number, seq: number, bytes: number, limits: ApplyLimits): boolean {
    if (bytes <= limits.quotaSmallUpdate) return false
    const q = this.quota.get(member)
    const used = q !== undefined && q.window === Math.floor(seq / limits.quotaWindowBlocks) ? q.bytes : 0
    return used + bytes > limits.quotaWindowBytes
  }

  /// An update entry of `member` (`entryBytes` long) was appended: the next
  /// clocks of the clients it wrote are `next` (client, clock), and its text
  /// changes are `plan` and `inserted`.
  accepted(member: number, next: Array<[number, number]>, change: { seq: number; entryBytes: number; plan: TextPlan | null; inserted: number }, limits: ApplyLimits): void {
    this.undo.push({ member, clocks: next.map(([client]) => [client, this.clocks.get(client)]), quota: this.quota.get(member), plan: change.plan, inserted: change.inserted, entryBytes: change.entryBytes })
    for (const [client, clock] of next) this.clocks.set(client, clock)
    this.advance(member, change, limits)
    this.length++
    this.bytesSince += change.entryBytes
    if (this.undo.length > 2 * WriterClocks.MAX_UNDO) {
      const drop = this.undo.length - WriterClocks.MAX_UNDO
      this.undo.splice(0, drop)
      this.base += drop
    }
  }

  /// apply() appended a snapshot of all `length` updates, of `bytes` bytes:
  /// the quota windows and the counts since the snapshot start again.
  snapshotted(bytes: number): void {
    this.quota.clear()
    this.snapshotAt = this.length
    this.snapshotBytes = bytes
    this.bytesSince = 0
  }

  private advance(member: number, change: { seq: number; entryBytes: number; plan: TextPlan | null; inserted: number }, limits: ApplyLimits): void {
    if (change.plan !== null) this.text.commit(change.plan, change.inserted)
    const window = Math.floor(change.seq / limits.quotaWindowBlocks)
    const q = this.quota.get(member)
    this.quota.set(member, { window, bytes: (q !== undefined && q.window === window ? q.bytes : 0) + change.entryBytes })
  }

  /// Make the state that of `view.updates` as it is now.
  async sync(view: CheckedView, limits: ApplyLimits): Promise<void> {
    const length = view.updates.length
    if (view === this.view && length <= this.length && length >= this.base && length >= this.snapshotAt) {
      for (; this.length > length; this.length--) {
        const u = this.undo.pop()!
        for (const [client, before] of u.clocks) {
          if (before === undefined) this.clocks.delete(client)
          else this.clocks.set(client, before)
        }
        if (u.quota === undefined) this.quota.delete(u.member)
        else this.quota.set(u.member, u.quota)
        if (u.plan !== null) this.text.revert(u.plan, u.inserted)
        this.bytesSince -= u.entryBytes
      }
      return
    }
    this.clocks = new Map()
    this.text = new TextLength()
    this.quota = new Map()
    this.snapshotAt = 0
    this.snapshotBytes = 0
    this.bytesSince = 0
    let from = 0
    if (view.snapshots.length > 0) {
      const snap = decodeSnapshotEntry(await mustGet(view.snapshots, view.snapshots.length - 1))
      // (A v1 view's snapshots hold only members' clients; a v2 seed brings
      // others, whose clocks count the same way.)
      for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVectorFromUpdate(snap.state))) this.clocks.set(client, clock)
      this.snapshotAt = snap.updates
      this.snapshotBytes = snap.state.length
      const summary = summarizeState(snap.state)
      if (summary === null) this.text.known = false
      else {
        for (const [client, { end, deleted }] of summary.clients) {
          this.text.total += end
          this.text.deleted.set(client, deleted)
        }
      }
      from = snap.updates
    }
    for (let i = from; i < length; i++) {
      const block = await mustGet(view.updates, i)
      const entry = decodeUpdateEntry(block)
      this.advance(entry.member, { seq: entry.seq, entryBytes: block.length, plan: null, inserted: 0 }, limits)
      this.bytesSince += block.length
      // (An entry today's guard refuses was accepted by an older build, e.g.
      // with more delete ranges than the cap now allows: its clocks and
      // text are not followed, the same way on every peer.)
      const verdict = guardUpdate(entry.yjs)
      if (!verdict.ok) continue
      let inserted = 0
      for (const section of verdict.shape.sections) {
        this.clocks.set(section.client, section.clock + section.length)
        inserted += section.length
      }
      const plan = this.planText(verdict.shape)
      if (plan !== null) this.text.commit(plan, inserted)
    }
    this.undo = []
    this.base = length
    this.length = length
    this.view = view
  }
}

/// The last entries of `rejections` (writer and log position), for the cap
/// on how many refusals of one writer are recorded: a refused block leaves an
/// entry only while its writer has fewer than rejectionsPerWindow entries,
/// for blocks of the same run of quotaWindowBlocks of its log, among the last
/// rejectionsTail entries. Read from the view, so the same on every peer;
/// reloaded whenever the view is not the one it followed or has another length.
export class RejectionTail {
  private view: CheckedView | null = null
  private length = -1
  private tail: Array<{ writer: string; seq: number }> = []

  async sync(view: CheckedView, format: FormatVersion, limits: ApplyLimits): Promise<void> {
    const length = view.rejections.length
    if (view === this.view && length === this.length) return
    const from = Math.max(0, length - limits.rejectionsTail)
    const tail: Array<{ writer: string; seq: number }> = []
    for (let i = from; i < length; i++) {
      const r = decodeRejectionEntry(await mustGet(view.rejections, i), format)
      tail.push({ writer: b4a.toString(r.writer, 'hex'), seq: r.seq })
    }
    this.tail = tail
    this.view = view
    this.length = length
  }

  /// Whether a refusal of `writer`'s block at `seq` is recorded (after sync()).
  allows(writer: Uint8Array, seq: number, limits: ApplyLimits): boolean {
    const w = b4a.toString(writer, 'hex')
    const start = seq - (seq % limits.quotaWindowBlocks)
    let n = 0
    for (const e of this.tail) if (e.writer === w && e.seq >= start && e.seq < start + limits.quotaWindowBlocks) n++
    return n < limits.rejectionsPerWindow
  }

  /// A refusal was appended to `view.rejections`.
  recorded(view: CheckedView, writer: Uint8Array, seq: number, limits: ApplyLimits): void {
    if (view !== this.view || this.length !== view.rejections.length - 1) {
      this.length = -1
      return
    }
    this.tail.push({ writer: b4a.toString(writer, 'hex'), seq })
    if (this.tail.length > limits.rejectionsTail) this.tail.shift()
    this.length++
  }
}

async function mustGet(core: Hypercore, index: number): Promise<Buffer> {
  const block = await core.get(index)
  if (block === null) throw new Error(`view block ${index} unavailable`)
  return block
}
