// The text a document shows must always equal its Y.Text and what every
// other peer gets, whatever changes a tab sends (CodeMirror offsets are UTF-16
// units and may fall between the halves of a surrogate pair).
import { describe, expect, test } from 'vitest'
import { ChangeSet, Text } from '@codemirror/state'
import { keepPairsWhole } from '../../src/sync/document.js'
import { connect, converge, createDoc, joinDoc, yText } from '../helpers/docs.js'
import { seeded } from '../helpers/prng.js'

const text = (s: string) => Text.of(s.split('\n'))
const applied = (s: string, changes: Array<{ from: number; to?: number; insert?: string }>) =>
  keepPairsWhole(ChangeSet.of(changes, s.length), text(s)).apply(text(s)).toString()

describe('surrogate pairs', () => {
  test('keepPairsWhole widens cuts through a pair and removes lone surrogates', () => {
    const s = 'a😀b' // a \ud83d \ude00 b
    expect(applied(s, [{ from: 2, to: 3 }])).toBe('ab') // deleting the low half deletes the emoji
    expect(applied(s, [{ from: 1, to: 2 }])).toBe('ab') // and the high half
    expect(applied(s, [{ from: 2, insert: 'x' }])).toBe('a😀xb') // insert between halves goes after
    expect(applied(s, [{ from: 2, to: 3, insert: '\ude01' }])).toBe('a😁b') // a diff of the low half
    expect(applied(s, [{ from: 0, insert: '\ud800' }])).toBe('\ufffda😀b')
    expect(applied(s, [{ from: 4, insert: 'x\udc00y' }])).toBe('a😀bx\ufffdy')
    expect(applied(s, [{ from: 0, to: 2, insert: 'z' }])).toBe('zb')
    // Nothing to fix: the very same change set comes back.
    const cs = ChangeSet.of([{ from: 1, to: 3, insert: '😁' }], s.length)
    expect(keepPairsWhole(cs, text(s))).toBe(cs)
  })

  test('edits that would cut a pair are refused (BAD_CHANGE); replaceText widens its diff; text, Y.Text, peer and reopen agree', async (ctx) => {
    const rng = seeded(ctx)
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    connect(a.doc, b.doc)
    a.doc.edit([{ from: 0, insert: '😀😁😂🤣 é 𝄞 end' }])
    let refused = 0
    for (let i = 0; i < 300; i++) {
      const len = a.doc.text.length
      const from = rng.int(0, len)
      const to = rng.bool(0.5) ? Math.min(len, from + rng.int(0, 3)) : from
      const insert = rng.pick(['', 'x', '😀', '\ud83d', '\ude00', '\ude00\ud83d', '𝄞'])
      const before = a.doc.text.toString()
      try {
        a.doc.edit([{ from, to, insert }])
      } catch (err) {
        expect((err as { code?: string }).code).toBe('BAD_CHANGE')
        expect(String(err)).toMatch(/surrogate/)
        expect(a.doc.text.toString()).toBe(before)
        refused++
      }
      if (a.doc.text.length < 6) a.doc.edit([{ from: 0, insert: '😀😁😂' }])
      expect(a.doc.text.toString()).toBe(yText(a.doc))
      expect(a.doc.text.toString().isWellFormed?.() ?? true).toBe(true)
    }
    expect(refused).toBeGreaterThan(0)
    a.doc.replaceText('😀 one 😁 two 😂')
    a.doc.replaceText('😁 one 😀 two 😂!') // diffs that share the high half of the emoji
    expect(a.doc.text.toString()).toBe('😁 one 😀 two 😂!')
    expect(yText(a.doc)).toBe('😁 one 😀 two 😂!')
    await a.doc.flush()
    await converge([a.doc, b.doc])
    expect(b.doc.text.toString()).toBe(a.doc.text.toString())
    expect(yText(b.doc)).toBe(a.doc.text.toString())
    const again = await a.reopen()
    expect(again.doc.text.toString()).toBe('😁 one 😀 two 😂!')
  })
})
