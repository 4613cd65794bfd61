import { ChangeSet, Text } from '@codemirror/state'
import diff from 'fast-diff'

/// A change in CodeMirror's shape: replace [from, to) of the old text with `insert`.
/// Offsets are UTF-16 code units, as in JavaScript strings, CodeMirror and Y.Text.
export interface TextChange {
  from: number
  to?: number
  insert?: string
}

/// One operation of a Y.Text delta.
export interface DeltaOp {
  retain?: number
  delete?: number
  insert?: string | object
}

/// Build a ChangeSet from CodeMirror-style changes against a text of `length`.
/// Throws RangeError naming the bad position (ChangeSet.of's own message).
export function changeSetOf(changes: readonly TextChange[] | ChangeSet, length: number): ChangeSet {
  if (changes instanceof ChangeSet) {
    if (changes.length !== length) throw new RangeError(`Change set of length ${changes.length} does not fit a text of length ${length}`)
    return changes
  }
  if (!Array.isArray(changes)) throw new RangeError('Changes must be an array')
  const specs = changes.map((ch, i) => {
    if (ch === null || typeof ch !== 'object') throw new RangeError(`Change ${i} is not an object`)
    const { from, to = from, insert = '' } = ch
    if (!Number.isInteger(from) || !Number.isInteger(to)) throw new RangeError(`Change ${i} has a non-integer position`)
    if (typeof insert !== 'string') throw new RangeError(`Change ${i} inserts a non-string`)
    return { from, to, insert: linesOf(insert) }
  })
  return ChangeSet.of(specs, length)
}

/// Text of a string split at "\n" only: CodeMirror's default splitting
/// would turn "\r\n" into one line break and change the length.
function linesOf(s: string): Text {
  return Text.of(s.split('\n'))
}

/// The ChangeSet equivalent of a Y.Text delta over a text of `length`.
export function deltaToChangeSet(delta: readonly DeltaOp[], length: number): ChangeSet {
  const specs: TextChange[] = []
  let pos = 0
  for (const op of delta) {
    if (op.retain !== undefined) pos += op.retain
    else if (op.delete !== undefined) {
      specs.push({ from: pos, to: pos + op.delete })
      pos += op.delete
    } else if (typeof op.insert === 'string') specs.push({ from: pos, insert: op.insert })
  }
  return ChangeSet.of(specs, length)
}

/// The smallest set of changes that turns `before` into `after` (via fast-diff).
export function diffChanges(before: string, after: string, opts: { semantic?: boolean } = {}): TextChange[] {
  const out: TextChange[] = []
  let pos = 0
  for (const [op, text] of opts.semantic ? diff(before, after, undefined, true) : diff(before, after)) {
    if (op === diff.EQUAL) pos += text.length
    else if (op === diff.DELETE) {
      const last = out[out.length - 1]
      if (last !== undefined && last.to === pos && last.insert === '') last.to = pos + text.length
      else out.push({ from: pos, to: pos + text.length, insert: '' })
      pos += text.length
    } else {
      const last = out[out.length - 1]
      if (last !== undefined && (last.to ?? last.from) === pos) last.insert = (last.insert ?? '') + text
      else out.push({ from: pos, to: pos, insert: text })
    }
  }
  return out
}

/// How far from where the diff maps it (UTF-16 units) a change looks for its
/// surroundings, and how much of them it tries to match (longest first).
const REBASE_WINDOW = 2048
const REBASE_CONTEXTS = [32, 16, 8]

/// Place `ours` (changes to `base`) into `current`, a text others changed
/// from `base` meanwhile, the way a patch tool applies a hunk: each change
/// goes where its surroundings are, starting from where a diff of the two
/// texts maps it. (A character diff of texts that differ a lot pairs up
/// unrelated characters, and changes mapped through it alone land in pieces:
/// a deletion would remove parts of someone else's text.) A deletion removes
/// exactly the text it removed from `base`, found nearest its mapped place,
/// or nothing when that text is gone; an insertion goes right after the
/// nearest copy of the text before it (else right before the text after it,
/// else where the diff maps it). Returns changes to `current`, sorted and
/// not overlapping.
export function rebaseOnto(base: string, ours: ChangeSet, current: string): TextChange[] {
  const theirs = changeSetOf(diffChanges(base, current, { semantic: true }), base.length)
  const placed: Array<{ from: number; to: number; insert: string; order: number }> = []
  let order = 0
  ours.iterChanges((fromA, toA, _fromB, _toB, text) => {
    const insert = text.toString()
    const guess = theirs.mapPos(fromA, -1)
    let from = -1
    let to = -1
    if (toA > fromA) {
      const at = nearest(current, base.slice(fromA, toA), guess)
      if (at !== -1) {
        from = at
        to = at + (toA - fromA)
      } else if (insert === '') return // already gone
    }
    if (from === -1) {
      from = to = anchor(base, fromA, toA, current, guess)
    }
    placed.push({ from, to, insert, order: order++ })
  })
  placed.sort((a, b) => a.from - b.from || a.order - b.order)
  const out: TextChange[] = []
  let end = 0
  for (const c of placed) {
    // A deletion found where an earlier change already is: leave it out.
    if (c.from < end) {
      if (c.to > c.from) continue
      c.from = c.to = end
    }
    out.push({ from: c.from, to: c.to, insert: c.insert })
    end = c.to
  }
  return out
}

/// Where in `current` an insertion made at `fromA` (replacing up to `toA`) in
/// `base` belongs: after the nearest copy of the text before it, else before
/// the nearest copy of the text after it, else `guess`.
function anchor(base: string, fromA: number, toA: number, current: string, guess: number): number {
  // Where the diff maps it, if the text just before or after agrees.
  const near = Math.min(4, fromA, base.length - toA)
  if (near > 0 && (current.slice(guess - near, guess) === base.slice(fromA - near, fromA) || current.slice(guess, guess + near) === base.slice(toA, toA + near))) {
    return guess
  }
  for (const n of REBASE_CONTEXTS) {
    const left = base.slice(Math.max(0, fromA - n), fromA)
    if (left.length < Math.min(n, fromA) || left.length === 0) continue
    const at = nearest(current, left, guess - left.length)
    if (at !== -1) return at + left.length
  }
  for (const n of REBASE_CONTEXTS) {
    const right = base.slice(toA, toA + n)
    if (right.length === 0) break
    const at = nearest(current, right, guess)
    if (at !== -1) return at
  }
  if (fromA === 0) return 0
  if (toA === base.length) return current.length
  return Math.max(0, Math.min(current.length, guess))
}

/// The start of the copy of `needle` in `hay` nearest to `guess`, within
/// REBASE_WINDOW of it; -1 when there is none.
function nearest(hay: string, needle: string, guess: number): number {
  const lo = Math.max(0, guess - REBASE_WINDOW)
  const hi = Math.min(hay.length, guess + REBASE_WINDOW + needle.length)
  let best = -1
  for (let i = hay.indexOf(needle, lo); i !== -1 && i + needle.length <= hi; i = hay.indexOf(needle, i + 1)) {
    if (best === -1 || Math.abs(i - guess) < Math.abs(best - guess)) best = i
    if (i > guess) break
  }
  return best
}
