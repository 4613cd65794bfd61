// Naming a member (`swarmpad remove NAME MEMBER`): a name any member can
// choose never silently beats a key, and members showing the same name are
// shown apart.
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { resolveMember } from '../../src/pairing/resolve.js'
import type { Member } from '../../src/doc/membership.js'
import { distinctLabels, shownColor } from '../../src/doc/member-view.js'
import { colorOf } from '../../src/server/collab.js'
import { formatKey } from '../../src/storage/keys.js'

function member(n: number, name: string, extra: Partial<Member> = {}): Member {
  return { n, key: randomBytes(32), role: 'writer', clientId: n, carries: null, name, color: '', device: null, removed: false, ...extra }
}

describe('resolveMember', () => {
  it('a name that equals the start of another member key is ambiguous, not the wrong member', () => {
    const victim = member(0, 'Ann', { role: 'owner' })
    const prefix = formatKey(victim.key).slice(0, 6)
    const attacker = member(1, prefix)
    // Before: the key prefix won silently (or the name, by list order); now the owner is asked.
    expect(() => resolveMember([victim, attacker], prefix)).toThrow(new RegExp(`"${prefix}" could be 2 members: .*give more of the key`))
    // Positive controls: the whole key, a longer prefix, and a unique name resolve.
    expect(resolveMember([victim, attacker], formatKey(victim.key))).toBe(victim)
    expect(resolveMember([victim, attacker], formatKey(victim.key).slice(0, 12))).toBe(victim)
    expect(resolveMember([victim, attacker], 'Ann')).toBe(victim)
    expect(resolveMember([victim, attacker], formatKey(attacker.key))).toBe(attacker)
  })

  it('two members with the same name are ambiguous; a removed namesake gives way to the active one', () => {
    const a = member(0, 'Bob')
    const b = member(1, 'Bob')
    expect(() => resolveMember([a, b], 'Bob')).toThrow(/"Bob" could be 2 members/)
    const gone = member(2, 'Cy', { removed: true })
    const cy = member(3, 'Cy')
    expect(resolveMember([gone, cy], 'Cy')).toBe(cy)
    expect(() => resolveMember([a], 'nobody')).toThrow(/no member "nobody"/)
  })
})

describe('distinctLabels', () => {
  it('labels that collide carry the start of the key; unique ones stay as they are', () => {
    const a = member(0, 'Ann')
    const b = member(1, 'Ann')
    const c = member(2, 'Cid')
    const labels = distinctLabels([a, b, c], (m) => m.name, (m) => formatKey(m.key).slice(0, 8))
    expect(labels.get(a)).toBe(`Ann (${formatKey(a.key).slice(0, 8)})`)
    expect(labels.get(b)).toBe(`Ann (${formatKey(b.key).slice(0, 8)})`)
    expect(labels.get(c)).toBe('Cid')
  })
})

describe('shownColor', () => {
  it('the page and the command show a member who never chose a colour in the same colour', () => {
    const m = member(0, 'Ann')
    expect(colorOf(m)).toBe(shownColor(m))
    expect(shownColor(m)).toMatch(/^#[0-9a-f]{6}$/)
    expect(shownColor({ ...m, color: '#3366cc' })).toBe('#3366cc')
  })
})
