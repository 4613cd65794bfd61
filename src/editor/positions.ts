// Positions of the editor protocol (lines and Unicode code points) and the
// document's (UTF-16 offsets in a CodeMirror Text), and the deltas between
// them. Pure: no I/O.
import { ChangeSet, Text } from '@codemirror/state'
import { diffChanges } from '../doc/changes.js'

/// A place in a text: a line (0-based, lines end in "\n") and a column
/// counted in Unicode code points (not UTF-16 units, not bytes).
export interface Position {
  line: number
  character: number
}

/// For a selection, `end` is its active end (where the cursor is).
export interface Range {
  start: Position
  end: Position
}

/// One replacement of a delta. Every range of a delta refers to the text
/// before the delta; ranges are in order and do not overlap.
export interface Replacement {
  range: Range
  replacement: string
}

export type Delta = Replacement[]

/// Most replacements one delta may hold.
export const MAX_DELTA_ITEMS = 100_000

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

/// The UTF-16 length of the first `points` code points of `s`, or -1 when
/// `s` holds fewer. A lone surrogate counts as one code point.
export function unitsOfCodePoints(s: string, points: number): number {
  let units = 0
  for (let n = 0; n < points; n++) {
    if (units >= s.length) return -1
    units += isHigh(s.charCodeAt(units)) && isLow(s.charCodeAt(units + 1)) ? 2 : 1
  }
  return units
}

/// How many code points the first `units` UTF-16 units of `s` hold (a
/// surrogate pair cut in two by `units` counts as one).
export function codePointsOfUnits(s: string, units: number): number {
  let points = 0
  for (let i = 0; i < units && i < s.length; i++) {
    points++
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) i++
  }
  return points
}

/// The number of code points of `s`.
export function codePointLength(s: string): number {
  return codePointsOfUnits(s, s.length)
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/// True when `s` holds half of a surrogate pair alone (JSON can carry one;
/// the document cannot hold it).
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s)
}

function isNat(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/// The UTF-16 offset of `pos` in `text`, or why it is not a position of it.
export function offsetAt(text: Text, pos: unknown): number | string {
  if (pos === null || typeof pos !== 'object') return 'a position must be { line, character }'
  const { line, character } = pos as Partial<Position>
  if (!isNat(line) || !isNat(character)) return 'line and character must be non-negative integers'
  if (line >= text.lines) return `line ${line} is past the end (the text has ${text.lines} lines, counted from 0)`
  const l = text.line(line + 1)
  const units = unitsOfCodePoints(l.text, character)
  if (units < 0) return `character ${character} is past the end of line ${line} (${codePointLength(l.text)} characters)`
  return l.from + units
}

/// Like offsetAt(), but a position past the end of its line or of the text
/// is moved back to the nearest one that exists (for cursors, which may race
/// with edits). Null when `pos` is not a position at all.
export function clampedOffsetAt(text: Text, pos: unknown): number | null {
  if (pos === null || typeof pos !== 'object') return null
  const { line, character } = pos as Partial<Position>
  if (!isNat(line) || !isNat(character)) return null
  if (line >= text.lines) return text.length
  const l = text.line(line + 1)
  const units = unitsOfCodePoints(l.text, character)
  return l.from + (units < 0 ? l.length : units)
}

/// The position of a UTF-16 offset of `text` (clamped into it).
export function positionAt(text: Text, offset: number): Position {
  const at = Math.max(0, Math.min(text.length, offset))
  const line = text.lineAt(at)
  return { line: line.number - 1, character: codePointsOfUnits(line.text, at - line.from) }
}

/// A CodeMirror Text of `s`, lines split at "\n" only ("\r" stays a
/// character, so lengths match the document's text exactly).
export function textOf(s: string): Text {
  return Text.of(s.split('\n'))
}

/// The change a delta from the editor makes to `text`, or why it cannot be
/// applied: a malformed delta, a position past the end, ranges out of order
/// or overlapping, or a lone surrogate in a replacement.
export function changesOfDelta(text: Text, delta: unknown): ChangeSet | string {
  if (!Array.isArray(delta)) return 'delta must be an array of { range, replacement }'
  if (delta.length > MAX_DELTA_ITEMS) return `a delta holds at most ${MAX_DELTA_ITEMS} replacements`
  const specs: Array<{ from: number; to: number; insert: Text }> = []
  let prevEnd = 0
  for (const [i, item] of delta.entries()) {
    if (item === null || typeof item !== 'object') return `replacement ${i} is not an object`
    const { range, replacement } = item as Partial<Replacement>
    if (typeof replacement !== 'string') return `replacement ${i} has no replacement string`
    if (range === null || typeof range !== 'object') return `replacement ${i} has no range`
    const from = offsetAt(text, range.start)
    if (typeof from === 'string') return `replacement ${i}, start: ${from}`
    const to = offsetAt(text, range.end)
    if (typeof to === 'string') return `replacement ${i}, end: ${to}`
    if (to < from) return `replacement ${i}: the range ends before it starts`
    if (from < prevEnd) return `replacement ${i}: ranges must be in order and must not overlap`
    if (hasLoneSurrogate(replacement)) return `replacement ${i} holds a lone surrogate`
    prevEnd = to
    specs.push({ from, to, insert: textOf(replacement) })
  }
  return ChangeSet.of(specs, text.length)
}

/// The delta of `changes` (which apply to `text`), in code points.
///
/// An insertion after the final line break of the text is sent as a
/// replacement of that line break ("\n" -> "\n" + text): the same edit, which
/// editors that keep the last line break apart from the lines (Neovim's
/// 'eol', as Teamtype's plugin does) apply without adding a line break of
/// their own.
export function deltaOfChanges(text: Text, changes: ChangeSet): Delta {
  const out: Delta = []
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    let from = fromA
    let insert = inserted.toString()
    if (fromA === text.length && fromA > 0 && text.sliceString(fromA - 1, fromA) === '\n') {
      from = fromA - 1
      insert = '\n' + insert
    }
    out.push({ range: { start: positionAt(text, from), end: positionAt(text, toA) }, replacement: insert })
  })
  return out
}

/// A small change set that turns `before` into `after`, never cutting a
/// surrogate pair in two.
export function diffTexts(before: Text, after: Text): ChangeSet {
  const a = before.toString()
  const b = after.toString()
  if (a === b) return ChangeSet.empty(a.length)
  const specs: Array<{ from: number; to: number; insert: string }> = []
  for (const ch of diffChanges(a, b)) {
    let from = ch.from
    let to = ch.to ?? ch.from
    let insert = ch.insert ?? ''
    if (from > 0 && from < a.length && isHigh(a.charCodeAt(from - 1)) && isLow(a.charCodeAt(from))) {
      from--
      insert = a[from]! + insert
    }
    if (to > 0 && to < a.length && isHigh(a.charCodeAt(to - 1)) && isLow(a.charCodeAt(to))) {
      insert = insert + a[to]!
      to++
    }
    // (Changes of a diff are apart by at least one equal unit, so widening
    // never makes two overlap; the result is checked below anyway.)
    specs.push({ from, to, insert })
  }
  let cs: ChangeSet | null = null
  try {
    cs = ChangeSet.of(specs.map((s) => ({ from: s.from, to: s.to, insert: textOf(s.insert) })), a.length)
  } catch {
    cs = null
  }
  if (cs !== null && cs.apply(before).eq(after) && !splitsAnyPair(a, cs) && !hasLoneSurrogateInsert(cs)) return cs
  // Fallback: one replacement between the common prefix and suffix, at code point boundaries.
  let start = 0
  while (start < a.length && start < b.length && a.charCodeAt(start) === b.charCodeAt(start)) start++
  if (start > 0 && isHigh(a.charCodeAt(start - 1))) start--
  let end = 0
  while (end < a.length - start && end < b.length - start && a.charCodeAt(a.length - 1 - end) === b.charCodeAt(b.length - 1 - end)) end++
  if (end > 0 && isLow(a.charCodeAt(a.length - end))) end--
  return ChangeSet.of([{ from: start, to: a.length - end, insert: textOf(b.slice(start, b.length - end)) }], a.length)
}

function splitsAnyPair(a: string, cs: ChangeSet): boolean {
  let bad = false
  const cuts = (p: number) => p > 0 && p < a.length && isHigh(a.charCodeAt(p - 1)) && isLow(a.charCodeAt(p))
  cs.iterChanges((fromA, toA) => {
    if (cuts(fromA) || cuts(toA)) bad = true
  })
  return bad
}

function hasLoneSurrogateInsert(cs: ChangeSet): boolean {
  let bad = false
  cs.iterChanges((_fa, _ta, _fb, _tb, inserted) => {
    if (hasLoneSurrogate(inserted.toString())) bad = true
  })
  return bad
}
