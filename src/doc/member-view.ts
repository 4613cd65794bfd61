// How a member is shown, computed from the membership alone (pure): the
// same on the command line, the page and every device.
import { createHash } from 'node:crypto'
import type { Member } from './membership.js'
import { wireColorProblem } from '../values.js'

/// A member's colour: the one they chose, else one derived from their key.
export function shownColor(m: Pick<Member, 'color' | 'key'>): string {
  return m.color !== '' && wireColorProblem(m.color) === null ? m.color : colorFor(m.key)
}

/// A member's name: their own, or a short form of their key.
export function shownName(m: Pick<Member, 'name' | 'key' | 'n'>): string {
  return m.name !== '' ? m.name : `member ${m.n + 1} (${Array.from(m.key.subarray(0, 3), (b) => b.toString(16).padStart(2, '0')).join('')})`
}

/// A readable colour derived from a key (stable across devices).
export function colorFor(key: Uint8Array): string {
  const h = createHash('sha256').update(key).digest()
  const hue = ((h[0]! << 8) | h[1]!) % 360
  return hslToHex(hue, 0.65, 0.45)
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l)
  const f = (n: number) => {
    const k = (n + h / 30) % 12
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(c * 255)
      .toString(16)
      .padStart(2, '0')
  }
  return `#${f(0)}${f(8)}${f(4)}`
}

/// How each member is shown in a list: `label(m)`, and when another member
/// shows the same label, the start of its key (`short(m)`) too, so a member
/// cannot pass for another by copying its name.
export function distinctLabels(members: readonly Member[], label: (m: Member) => string, short: (m: Member) => string): Map<Member, string> {
  const count = new Map<string, number>()
  for (const m of members) count.set(label(m), (count.get(label(m)) ?? 0) + 1)
  const out = new Map<Member, string>()
  for (const m of members) out.set(m, (count.get(label(m)) ?? 0) > 1 ? `${label(m)} (${short(m)})` : label(m))
  return out
}
