// Positions of the editor protocol (lines, Unicode code points) against the
// document's UTF-16 offsets; deltas both ways; the LSP framing; the revision
// rule on small hand-made cases (the fuzz test does the random ones).
import { describe, expect, it } from 'vitest'
import { ChangeSet } from '@codemirror/state'
import {
  changesOfDelta,
  clampedOffsetAt,
  codePointLength,
  codePointsOfUnits,
  deltaOfChanges,
  diffTexts,
  offsetAt,
  positionAt,
  textOf,
  unitsOfCodePoints,
  type Delta
} from '../../src/editor/positions.js'
import { FrameDecoder, MAX_FRAME_BYTES, encodeFrame } from '../../src/editor/framing.js'
import { FileState } from '../../src/editor/ot.js'
import { notification, response, withoutMark } from '../../src/editor/rpc.js'

const EMOJI = '😀' // U+1F600: 1 code point, 2 UTF-16 units
const FAMILY = '👩‍👩‍👧' // 5 code points (3 emoji, 2 ZWJ), 8 units
const CJK = '漢字かな' // 4 code points, 4 units (BMP)
const COMBINING = 'e\u0301' // "é" as e + combining acute: 2 code points, 2 units

describe('code points <-> UTF-16', () => {
  it('counts code points, not units, not graphemes', () => {
    expect(codePointLength(EMOJI)).toBe(1)
    expect(codePointLength(FAMILY)).toBe(5)
    expect(FAMILY.length).toBe(8)
    expect(codePointLength(CJK)).toBe(4)
    expect(codePointLength(COMBINING)).toBe(2)
    expect(codePointLength('a\ud800b')).toBe(3) // a lone surrogate is one
  })

  it('converts both ways on a line with emoji, CJK and combining marks', () => {
    const line = `a${EMOJI}b${CJK}${COMBINING}${FAMILY}z`
    const points = [...line] // the string iterator walks code points
    for (let cp = 0; cp <= points.length; cp++) {
      const units = unitsOfCodePoints(line, cp)
      expect(units).toBe(points.slice(0, cp).join('').length)
      expect(codePointsOfUnits(line, units)).toBe(cp)
    }
    expect(unitsOfCodePoints(line, points.length + 1)).toBe(-1)
  })

  it('positions in a text of several lines', () => {
    const text = textOf(`${EMOJI}${EMOJI}\n${CJK}\n\n${COMBINING}x`)
    expect(offsetAt(text, { line: 0, character: 1 })).toBe(2)
    expect(offsetAt(text, { line: 0, character: 2 })).toBe(4)
    expect(offsetAt(text, { line: 1, character: 4 })).toBe(9)
    expect(offsetAt(text, { line: 2, character: 0 })).toBe(10)
    expect(offsetAt(text, { line: 3, character: 2 })).toBe(13)
    expect(positionAt(text, 4)).toEqual({ line: 0, character: 2 })
    expect(positionAt(text, 5)).toEqual({ line: 1, character: 0 })
    expect(positionAt(text, 14)).toEqual({ line: 3, character: 3 })
    // Past the end: a reason, never a position.
    expect(offsetAt(text, { line: 0, character: 3 })).toMatch(/past the end of line 0 \(2 characters\)/)
    expect(offsetAt(text, { line: 4, character: 0 })).toMatch(/line 4 is past the end/)
    expect(offsetAt(text, { line: -1, character: 0 })).toMatch(/non-negative integers/)
    expect(offsetAt(text, { line: 0.5, character: 0 })).toMatch(/non-negative integers/)
    expect(offsetAt(text, null)).toMatch(/position must be/)
    // Cursors are clamped instead.
    expect(clampedOffsetAt(text, { line: 0, character: 99 })).toBe(4)
    expect(clampedOffsetAt(text, { line: 99, character: 0 })).toBe(text.length)
  })
})

describe('deltas', () => {
  const range = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, character: c1 }, end: { line: l2, character: c2 } })

  it('an editor delta becomes the change the editor made, and back', () => {
    const text = textOf(`x${EMOJI}y\n${CJK}\n`)
    const delta: Delta = [
      { range: range(0, 1, 0, 2), replacement: '🎉' },
      { range: range(1, 2, 1, 2), replacement: 'ZZ' },
      { range: range(1, 4, 2, 0), replacement: '' }
    ]
    const cs = changesOfDelta(text, delta)
    if (typeof cs === 'string') throw new Error(cs)
    expect(cs.apply(text).toString()).toBe(`x🎉y\n漢字ZZかな`)
    const back = deltaOfChanges(text, cs)
    const again = changesOfDelta(text, back)
    if (typeof again === 'string') throw new Error(again)
    expect(again.apply(text).toString()).toBe(cs.apply(text).toString())
  })

  it('refuses positions past the end, overlapping, unsorted or reversed ranges and lone surrogates', () => {
    const text = textOf('abc\ndef')
    expect(changesOfDelta(text, [{ range: range(0, 4, 0, 4), replacement: 'x' }])).toMatch(/past the end of line 0/)
    expect(changesOfDelta(text, [{ range: range(2, 0, 2, 0), replacement: 'x' }])).toMatch(/line 2 is past the end/)
    expect(changesOfDelta(text, [{ range: range(0, 0, 0, 2), replacement: '' }, { range: range(0, 1, 0, 3), replacement: '' }])).toMatch(/in order and must not overlap/)
    expect(changesOfDelta(text, [{ range: range(1, 0, 1, 1), replacement: '' }, { range: range(0, 0, 0, 1), replacement: '' }])).toMatch(/in order/)
    expect(changesOfDelta(text, [{ range: range(0, 2, 0, 1), replacement: '' }])).toMatch(/ends before it starts/)
    expect(changesOfDelta(text, [{ range: range(0, 0, 0, 0), replacement: '\ud83d' }])).toMatch(/lone surrogate/)
    expect(changesOfDelta(text, 'nope')).toMatch(/must be an array/)
    expect(changesOfDelta(text, [{ range: range(0, 0, 0, 0) }])).toMatch(/no replacement/)
    // Touching ranges and several insertions at one place are fine (in order).
    const ok = changesOfDelta(text, [{ range: range(0, 0, 0, 1), replacement: 'A' }, { range: range(0, 1, 0, 1), replacement: 'B' }, { range: range(0, 1, 0, 1), replacement: 'C' }])
    if (typeof ok === 'string') throw new Error(ok)
    expect(ok.apply(text).toString()).toBe('ABCbc\ndef')
    expect(changesOfDelta(text, [])).toBeInstanceOf(ChangeSet)
  })

  it('an insertion after the final line break replaces that line break (Neovim keeps it apart)', () => {
    const text = textOf('a\n')
    const cs = ChangeSet.of([{ from: 2, insert: 'b' }], 2)
    expect(deltaOfChanges(text, cs)).toEqual([{ range: range(0, 1, 1, 0), replacement: '\nb' }])
    const back = changesOfDelta(text, deltaOfChanges(text, cs))
    if (typeof back === 'string') throw new Error(back)
    expect(back.apply(text).toString()).toBe('a\nb')
  })

  it('diffs never cut a surrogate pair', () => {
    for (const [a, b] of [
      ['😀', '😁'],
      [`x${FAMILY}y`, `x👩‍👩‍👦y`],
      ['ab😀cd', 'ab🎉cd'],
      ['', `${EMOJI}\n${CJK}`],
      [`${COMBINING}`, 'e\u0300'],
      ['😀😀😀', '😀😁😀']
    ] as const) {
      const before = textOf(a)
      const cs = diffTexts(before, textOf(b))
      expect(cs.apply(before).toString()).toBe(b)
      const delta = deltaOfChanges(before, cs)
      const back = changesOfDelta(before, delta)
      if (typeof back === 'string') throw new Error(back)
      expect(back.apply(before).toString()).toBe(b)
    }
  })
})

describe('LSP framing', () => {
  it('splits messages however the bytes arrive, with UTF-8 bodies', () => {
    const bodies = ['{"a":1}', JSON.stringify({ t: `${EMOJI}${CJK}${COMBINING}` }), '{}']
    const wire = Buffer.concat(bodies.map(encodeFrame))
    for (const step of [1, 3, 7, wire.length]) {
      const d = new FrameDecoder()
      const got: string[] = []
      for (let i = 0; i < wire.length; i += step) {
        for (const f of d.push(wire.subarray(i, i + step))) if (f.type === 'message') got.push(f.body)
      }
      expect(got).toEqual(bodies)
    }
  })

  it('reports broken headers and oversized messages, then finds the next message', () => {
    const d = new FrameDecoder()
    const frames = d.push(
      Buffer.concat([
        Buffer.from('garbage\r\n\r\n'),
        Buffer.from('Content-Length: x\r\n\r\n'),
        Buffer.from('Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 8\r\nX-Other: 1\r\n\r\n{"ok":1}'),
        Buffer.from(`Content-Length: ${MAX_FRAME_BYTES + 1}\r\n\r\n`),
        Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20),
        encodeFrame('{"ok":2}'),
        Buffer.from('Content-Length: 2\r\n\r\n'),
        Buffer.from([0xff, 0xfe]),
        encodeFrame('{"ok":3}')
      ])
    )
    expect(frames.filter((f) => f.type === 'message').map((f) => (f as { body: string }).body)).toEqual(['{"ok":1}', '{"ok":2}', '{"ok":3}'])
    const problems = frames.filter((f) => f.type === 'problem').map((f) => (f as { reason: string }).reason)
    expect(problems).toEqual([
      expect.stringMatching(/header line without a name/),
      expect.stringMatching(/Content-Length "x" is not a number/),
      expect.stringMatching(/a message of \d+ bytes/),
      expect.stringMatching(/not UTF-8/)
    ])
  })
})

describe('marked notifications pass through the client unparsed', () => {
  it('strips the mark the daemon puts last, and only from its own marked notifications', () => {
    const params = { uri: 'file:///a.txt', revision: 3, delta: [{ range: { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } }, replacement: `"}${EMOJI},"swarmpad":"op"}` }] }
    for (const mark of ['op', 'resend'] as const) {
      const stripped = withoutMark(notification('edit', params, mark))
      expect(stripped?.mark).toBe(mark)
      expect(stripped?.text).toBe(notification('edit', params))
      expect(JSON.parse(stripped!.text)).toEqual({ jsonrpc: '2.0', method: 'edit', params })
    }
    // Unmarked, and answers (marked "applied"): parsed by the client as before.
    expect(withoutMark(notification('edit', params))).toBeNull()
    expect(withoutMark(notification('cursor', { uri: 'file:///a.txt', ranges: [] }))).toBeNull()
    expect(withoutMark(response(7, 'success', 'applied'))).toBeNull()
  })

  it('frames are the body after its byte length', () => {
    for (const body of ['', '{}', `{"t":"${EMOJI}${CJK}${COMBINING}"}`]) {
      const bytes = Buffer.from(body, 'utf8')
      expect(encodeFrame(body)).toEqual(Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`), bytes]))
    }
  })
})

describe('revisions', () => {
  it('an edit meant for an older daemon revision is transformed, not dropped; the queued change is sent again', () => {
    const s = new FileState(textOf('hello world'))
    // The document changes: "hello" -> "HELLO" (sent with editor revision 0).
    expect(s.fromDocument(ChangeSet.of([{ from: 0, to: 5, insert: 'HELLO' }], 11))).toBe(0)
    // Meanwhile the editor, which had not applied it, appended "!" (daemon revision 0).
    const base = s.editorText(0)
    if (typeof base === 'string') throw new Error(base)
    expect(base.toString()).toBe('hello world')
    const { toDocument, resend } = s.fromEditor(ChangeSet.of([{ from: 11, insert: '!' }], 11))
    expect(toDocument.apply(textOf('HELLO world')).toString()).toBe('HELLO world!')
    expect(s.text.toString()).toBe('HELLO world!')
    // The editor ignored the first send (it had moved on): it gets it again, for its text.
    expect(resend).toHaveLength(1)
    expect(resend[0]!.before.toString()).toBe('hello world!')
    expect(resend[0]!.changes.apply(resend[0]!.before).toString()).toBe('HELLO world!')
    expect(s.editorRevision).toBe(1)
    // Its next edit names daemon revision 1: nothing is left to transform over.
    const next = s.editorText(1)
    if (typeof next === 'string') throw new Error(next)
    expect(next.toString()).toBe('HELLO world!')
    expect(s.queue).toHaveLength(0)
  })

  it('refuses a revision from the future or one older than already used', () => {
    const s = new FileState(textOf('x'))
    expect(s.editorText(1)).toMatch(/from the future/)
    s.fromDocument(ChangeSet.of([{ from: 1, insert: 'y' }], 1))
    s.fromDocument(ChangeSet.of([{ from: 2, insert: 'z' }], 2))
    expect(s.editorText(2)).not.toBeTypeOf('string')
    expect(s.editorText(1)).toMatch(/older than one already used/)
    expect(s.editorText(-1)).toMatch(/non-negative integer/)
  })

  it('round-trips through JSON (what the client sends on resume)', () => {
    const s = new FileState(textOf('abc'))
    s.fromDocument(ChangeSet.of([{ from: 1, insert: `${EMOJI}` }], 3))
    const back = FileState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())), textOf)
    if (typeof back === 'string') throw new Error(back)
    expect(back.text.toString()).toBe(s.text.toString())
    expect(back.daemonRevision).toBe(1)
    expect(FileState.fromJSON({ base: 'abc', queue: [{ changes: [9, [0, 'x']], count: 1 }], editorRevision: 0, daemonRevision: 1 }, textOf)).toMatch(/does not fit/)
  })
})
