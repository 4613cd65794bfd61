// This device's edits that every peer refused through no fault of its own,
// typed again. Pure (Yjs documents in, text changes out).
//
// When a member is removed while others type, Autobase skips the removed
// writer's blocks ordered after its removal. An update of this device that
// was typed next to that text builds on items that never reach the view, so
// apply() refuses it on every peer (MISSING_REFERENCE, MISSING_DELETE), and
// each later update of this device then starts past the clock the view
// holds (CLOCK_GAP). Nothing this device typed was wrong: its text is placed
// again, next to the text around it that the view still holds, as a new
// update with the clocks the view expects.
import * as Y from 'yjs'
import type { TextChange } from '../doc/changes.js'
import { Refusal } from '../doc/refusals.js'
import { TEXT_ROOT } from '../doc/yjs-guard.js'

/// Refusals of this device's own updates that salvage answers: the update
/// built on text that left (or followed one that did). Prose of format 1
/// documents, which store no code, is matched by its fixed English text.
export function salvageable(code: number, reason: string): boolean {
  if (code === Refusal.MISSING_REFERENCE || code === Refusal.MISSING_DELETE || code === Refusal.CLOCK_GAP) return true
  if (code !== 0) return false
  return (
    reason === 'update builds on text that is not in the document' ||
    reason === 'update deletes text that is not in the document' ||
    reason.startsWith("update does not continue its writer's text")
  )
}

/// Visible characters of a text by Yjs id: per client, runs [clock, length, index] sorted by clock.
type VisibleIndex = Map<number, Array<[number, number, number]>>

function visibleIndex(text: Y.Text): VisibleIndex {
  const out: VisibleIndex = new Map()
  let index = 0
  for (let item = text._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    let runs = out.get(item.id.client)
    if (runs === undefined) out.set(item.id.client, (runs = []))
    runs.push([item.id.clock, item.length, index])
    index += item.length
  }
  for (const runs of out.values()) runs.sort((a, b) => a[0] - b[0])
  return out
}

/// Where the character with id (client, clock) is in the text; -1 when it is
/// not there or deleted.
function indexOf(index: VisibleIndex, client: number, clock: number): number {
  const runs = index.get(client)
  if (runs === undefined) return -1
  let lo = 0
  let hi = runs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [start, length, at] = runs[mid]!
    if (clock < start) hi = mid - 1
    else if (clock >= start + length) lo = mid + 1
    else return at + (clock - start)
  }
  return -1
}

/// The characters of `client` in `updates`, per clock range.
function ownContent(updates: readonly Uint8Array[], client: number): Array<[number, string]> {
  const runs: Array<[number, string]> = []
  for (const update of updates) {
    for (const struct of Y.decodeUpdate(update).structs) {
      if (struct instanceof Y.Item && struct.id.client === client && struct.content instanceof Y.ContentString) runs.push([struct.id.clock, struct.content.str])
    }
  }
  return runs.sort((a, b) => a[0] - b[0])
}

function charAt(runs: Array<[number, string]>, clock: number): string | null {
  let lo = 0
  let hi = runs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [start, str] = runs[mid]!
    if (clock < start) hi = mid - 1
    else if (clock >= start + str.length) lo = mid + 1
    else return str[clock - start]!
  }
  return null
}

function deletedIn(ranges: Map<number, Array<[number, number]>>, client: number, clock: number): boolean {
  const list = ranges.get(client)
  if (list === undefined) return false
  for (const [from, len] of list) if (clock >= from && clock < from + len) return true
  return false
}

/// The changes to `after`'s text that put back what `doomed` (updates of
/// `client`, all in `before`, none in `after`) did: each run of their text
/// that they did not delete themselves goes right after the nearest
/// character to its left that `after` shows (the start when there is none),
/// in `before`'s order, and the characters they deleted that `after` shows
/// are deleted. Their text comes from the updates themselves, so text of
/// theirs that only the removed writer deleted (in `before`, never in the
/// view) comes back too. Sorted, not overlapping, in `after`'s coordinates.
export function salvageChanges(before: Y.Doc, after: Y.Doc, doomed: readonly Uint8Array[], client: number): TextChange[] {
  let firstClock = Infinity
  const deleted: Array<[number, number, number]> = []
  const ownDeleted = new Map<number, Array<[number, number]>>()
  for (const update of doomed) {
    const from = Y.parseUpdateMeta(update).from.get(client)
    if (from !== undefined) firstClock = Math.min(firstClock, from)
    const { ds } = Y.decodeUpdate(update)
    for (const [c, items] of ds.clients) {
      for (const d of items) {
        deleted.push([c, d.clock, d.len])
        let list = ownDeleted.get(c)
        if (list === undefined) ownDeleted.set(c, (list = []))
        list.push([d.clock, d.len])
      }
    }
  }
  const content = ownContent(doomed, client)
  const index = visibleIndex(after.getText(TEXT_ROOT))
  const beforeText = before.getText(TEXT_ROOT)
  const inserts: Array<{ at: number; text: string }> = []
  let anchor = 0
  let run = ''
  // Every item, deleted ones too: they keep their place in the list.
  for (let item = beforeText._start; item !== null; item = item.right) {
    const { client: c, clock } = item.id
    for (let k = 0; k < item.length; k++) {
      if (c === client && clock + k >= firstClock) {
        if (deletedIn(ownDeleted, c, clock + k)) continue
        const ch = charAt(content, clock + k)
        if (ch !== null) run += ch
        continue
      }
      if (item.deleted || !item.countable) continue
      const at = indexOf(index, c, clock + k)
      if (at === -1) continue // not in the view (the removed writer's skipped text)
      if (run.length > 0) inserts.push({ at: anchor, text: run })
      run = ''
      anchor = at + 1
    }
  }
  if (run.length > 0) inserts.push({ at: anchor, text: run })

  const gone = new Set<number>()
  for (const [c, clock, len] of deleted) {
    for (let k = 0; k < len; k++) {
      const at = indexOf(index, c, clock + k)
      if (at !== -1) gone.add(at)
    }
  }
  // Merge into sorted changes: deletions as ranges, inserts at their anchor
  // (an insert and a deletion starting at one position become one change).
  const positions = [...gone].sort((a, b) => a - b)
  const changes: TextChange[] = []
  let i = 0
  let j = 0
  while (i < inserts.length || j < positions.length) {
    const nextInsert = i < inserts.length ? inserts[i]!.at : Infinity
    const nextDelete = j < positions.length ? positions[j]! : Infinity
    const from = Math.min(nextInsert, nextDelete)
    let to = from
    while (j < positions.length && positions[j] === to) {
      to++
      j++
    }
    let insert = ''
    while (i < inserts.length && inserts[i]!.at === from) insert += inserts[i++]!.text
    changes.push(to > from ? { from, to, insert } : { from, insert })
  }
  return changes
}
