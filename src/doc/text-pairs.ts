// Text helpers shared by the document and its checks (pure): a CodeMirror
// Text split at "\n" only, and keeping UTF-16 surrogate pairs whole, which
// Yjs needs (it turns a cut pair into U+FFFD, and so would differ from peers).
import { ChangeSet, Text } from '@codemirror/state'
import type { DeltaOp } from './changes.js'

/// A CodeMirror Text of a string, splitting lines at "\n" only, so "\r"
/// stays a character and lengths match the Y.Text exactly.
export function textOf(s: string): Text {
  return Text.of(s.split('\n'))
}

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

/// True when `pos` falls between the two halves of a surrogate pair of `text`.
function splitsPair(text: Text, pos: number): boolean {
  if (pos <= 0 || pos >= text.length) return false
  const two = text.sliceString(pos - 1, pos + 1)
  return isHighSurrogate(two.charCodeAt(0)) && isLowSurrogate(two.charCodeAt(1))
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/// Why `cs` cannot be applied to `text` as it is (it cuts a surrogate pair or
/// inserts a lone surrogate), or null when it can.
export function pairProblem(cs: ChangeSet, text: Text): string | null {
  let problem: string | null = null
  cs.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    if (problem !== null) return
    if (splitsPair(text, fromA)) problem = `the change at ${fromA} cuts a surrogate pair in two`
    else if (splitsPair(text, toA)) problem = `the change ending at ${toA} cuts a surrogate pair in two`
    else if (inserted.length > 0) {
      LONE_SURROGATE.lastIndex = 0
      if (LONE_SURROGATE.test(inserted.toString())) problem = `the text inserted at ${fromA} holds a lone surrogate`
    }
  })
  return problem
}

/// Changes that never cut a surrogate pair of `text` in two and insert no
/// lone surrogate. Yjs turns both halves of a pair it must split into U+FFFD,
/// and writes a lone surrogate as U+FFFD: without this the text here would
/// differ from the Y.Text and from every other peer. A deletion or
/// replacement that cuts a pair is widened to the whole pair (when the
/// inserted text completes the half it cut, as a diff that changes only the
/// low half of an emoji does, that half is kept); an insertion between the
/// halves goes after the pair; a lone surrogate left after that becomes U+FFFD.
export function keepPairsWhole(cs: ChangeSet, text: Text): ChangeSet {
  let fix = false
  cs.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    if (fix) return
    if (splitsPair(text, fromA) || splitsPair(text, toA)) fix = true
    else if (inserted.length > 0) {
      LONE_SURROGATE.lastIndex = 0
      if (LONE_SURROGATE.test(inserted.toString())) fix = true
    }
  })
  if (!fix) return cs
  const specs: Array<{ from: number; to: number; insert: Text }> = []
  cs.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    let from = fromA
    let to = toA
    let insert = inserted.toString()
    if (from === to && splitsPair(text, from)) {
      from = to = from + 1
    } else {
      if (splitsPair(text, from)) {
        from--
        if (isLowSurrogate(insert.charCodeAt(0))) insert = text.sliceString(from, from + 1) + insert
      }
      if (splitsPair(text, to)) {
        if (isHighSurrogate(insert.charCodeAt(insert.length - 1))) insert = insert + text.sliceString(to, to + 1)
        to++
      }
    }
    LONE_SURROGATE.lastIndex = 0
    insert = insert.replace(LONE_SURROGATE, '\ufffd')
    specs.push({ from, to, insert: Text.of(insert.split('\n')) })
  })
  return ChangeSet.of(specs, text.length)
}

/// True when applying `delta` to `text` inserts or deletes at a position
/// between the halves of a surrogate pair (only a crafted update can).
export function deltaSplitsPair(delta: readonly DeltaOp[], text: Text): boolean {
  let pos = 0
  for (const op of delta) {
    if (op.retain !== undefined) pos += op.retain
    else if (op.delete !== undefined) {
      if (splitsPair(text, pos) || splitsPair(text, pos + op.delete)) return true
      pos += op.delete
    } else if (splitsPair(text, pos)) return true
  }
  return false
}
