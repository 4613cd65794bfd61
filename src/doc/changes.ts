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
export function diffChanges(before: string, after: string): TextChange[] {
  const out: TextChange[] = []
  let pos = 0
  for (const [op, text] of diff(before, after)) {
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
