// One check per user-facing value: whatever the local rule (command, API,
// page) accepts must encode as a block and decode the same on every peer.
import { describe, expect, it } from 'vitest'
import { decodeBlock, encodeBlock } from '../../src/doc/blocks.js'
import { durationMs, durationText, INVITE_EXPIRY, JOIN_TIMEOUT, memberColor, memberName, wireColorProblem } from '../../src/values.js'
import { parseDuration } from '../../src/cli/input.js'

const NAMES = ['Ada', 'Ada L.', 'Zoë', '李小龙', 'emoji 🦊 fox', 'x'.repeat(64), '🦊'.repeat(32), 'tab-free name', "O'Brien"]
const COLORS = ['#abc', '#ABC', '#3366cc', '#3366CC', '#000', '#FFFFFF', '#0f0']

function roundTrip(name: string, color: string) {
  const bytes = encodeBlock({ kind: 'profile', name, color, device: null })
  return decodeBlock(bytes)
}

describe('member names and colours', () => {
  it('every name and colour the local rule accepts encodes and decodes unchanged', () => {
    for (const name of NAMES) {
      for (const color of COLORS) {
        const n = memberName(name)
        const c = memberColor(color)
        expect(n.ok && c.ok, `${name} ${color}`).toBe(true)
        if (!n.ok || !c.ok) continue
        const decoded = roundTrip(n.value, c.value)
        expect(decoded).toMatchObject({ ok: true, block: { kind: 'profile', name: n.value, color: c.value } })
      }
    }
  })

  it('colours are normalised to lowercase #rrggbb, the only form the codec takes', () => {
    expect(memberColor('#ABC')).toEqual({ ok: true, value: '#aabbcc' })
    expect(memberColor('#3366CC')).toEqual({ ok: true, value: '#3366cc' })
    // Positive control: the codec does refuse the unnormalised forms.
    expect(wireColorProblem('#ABC')).not.toBeNull()
    expect(wireColorProblem('#3366CC')).not.toBeNull()
    expect(() => encodeBlock({ kind: 'profile', name: 'a', color: '#ABC', device: null })).toThrow()
    for (const bad of ['blue', '#abcd', '#gggggg', '3366cc', '', ' #abc', '#abc ', 42, null]) {
      expect(memberColor(bad), String(bad)).toMatchObject({ ok: false, problem: 'a colour is #rgb or #rrggbb, e.g. #3366cc' })
    }
  })

  it('names the codec would refuse are refused locally first, with a reason', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      ['   ', /empty/],
      ['x'.repeat(65), /at most 64/],
      ['a\u0007b', /control characters/],
      ['a\nb', /control characters/],
      ['lone \ud800 surrogate', /surrogate/],
      [' padded', /spaces/],
      [7, /text/]
    ]
    for (const [name, reason] of cases) {
      const r = memberName(name)
      expect(r.ok, String(name)).toBe(false)
      if (!r.ok) expect(r.problem).toMatch(reason)
    }
    // The ones the codec refuses too (positive control for the agreement).
    for (const name of ['x'.repeat(65), 'a\u0007b', 'lone \ud800 surrogate']) {
      expect(() => encodeBlock({ kind: 'profile', name, color: '', device: null })).toThrow()
    }
  })
})

describe('durations', () => {
  it('the command and the API share one range per duration', () => {
    expect(durationText('7d', INVITE_EXPIRY)).toEqual({ ok: true, value: 7 * 86_400_000 })
    expect(durationText('30s', INVITE_EXPIRY)).toEqual({ ok: false, problem: 'from 1m to 365d' })
    expect(durationMs(30_000, INVITE_EXPIRY)).toEqual({ ok: false, problem: 'from 1m to 365d' })
    expect(durationText('30s', JOIN_TIMEOUT)).toEqual({ ok: true, value: 30_000 })
    for (const bad of [Number.NaN, -1, 1.5, '60000', Infinity]) expect(durationMs(bad, INVITE_EXPIRY).ok, String(bad)).toBe(false)
    expect(() => parseDuration('2y')).toThrow(/invalid --expires "2y": expected a number and a unit/)
    expect(() => parseDuration('2s', JOIN_TIMEOUT)).not.toThrow()
  })
})
