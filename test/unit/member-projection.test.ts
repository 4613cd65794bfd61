// The membership projection (src/doc/member-projection.ts), in process: the
// one rule for names, colours, roles, removed members and who is online,
// which the page, `swarmpad members` and the network's presence all read.
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import b4a from 'b4a'
import { projectMembers } from '../../src/doc/member-projection.js'
import { colorFor, shownColor, shownName } from '../../src/doc/member-view.js'
import type { Member } from '../../src/doc/membership.js'

const hex = (b: Uint8Array) => b4a.toString(b, 'hex')
const member = (n: number, name: string, opts: Partial<Member> = {}): Member => ({
  n,
  key: randomBytes(32),
  role: 'writer',
  clientId: 100 + n,
  carries: null,
  name,
  color: '',
  device: randomBytes(32),
  removed: false,
  ...opts
})

describe('member projection', () => {
  it('names, colours and roles: own name or a short key, a chosen colour or one from the key, owners first', () => {
    const bob = member(0, 'Bob', { color: '#112233' })
    const ann = member(1, 'Ann', { role: 'owner' })
    const anon = member(2, '')
    const p = projectMembers([bob, ann, anon], ann.key, new Set())
    expect(p.members.map((m) => [m.n, m.name, m.role])).toEqual([
      [1, 'Ann', 'owner'],
      [0, 'Bob', 'writer'],
      [2, shownName(anon), 'writer']
    ])
    expect(p.members.map((m) => m.color)).toEqual([colorFor(ann.key), '#112233', colorFor(anon.key)])
    expect(p.byKey(hex(bob.key))!.color).toBe(shownColor(bob))
    expect(p.byKey(hex(anon.key))!.ownName).toBe('')
    expect(p.self!.hex).toBe(hex(ann.key))
  })

  it('an invalid chosen colour falls back to the key-derived one', () => {
    const m = member(0, 'X', { color: 'red; background: url(x)' })
    expect(projectMembers([m], m.key, new Set()).members[0]!.color).toBe(colorFor(m.key))
  })

  it('two members showing the same name get the start of their key too', () => {
    const a = member(0, 'Bob')
    const b = member(1, 'Bob')
    const c = member(2, 'Cy')
    const names = projectMembers([a, b, c], c.key, new Set()).members.map((m) => m.name)
    expect(names).toEqual([`Bob (${hex(a.key).slice(0, 8)})`, `Bob (${hex(b.key).slice(0, 8)})`, 'Cy'])
  })

  it('online: this device always; another member when its declared device is online; never a removed one', () => {
    const me = member(0, 'Me', { role: 'owner', device: null })
    const on = member(1, 'On')
    const off = member(2, 'Off')
    const gone = member(3, 'Gone', { removed: true })
    const nodev = member(4, 'NoDevice', { device: null })
    const online = new Set([hex(on.device!), hex(gone.device!)])
    const p = projectMembers([me, on, off, gone, nodev], me.key, online)
    expect(p.members.map((m) => [m.name, m.online, m.self])).toEqual([
      ['Me', true, true],
      ['On', true, false],
      ['Off', false, false],
      ['NoDevice', false, false]
    ])
    expect(p.removed.map((m) => [m.name, m.online, m.removed, m.deviceHex])).toEqual([['Gone', false, true, null]])
    expect(p.byKey(hex(gone.key))).toBeUndefined()
    expect(p.byDevice(hex(on.device!))!.name).toBe('On')
    // Positive control: the same member shows offline without its device in the set.
    expect(projectMembers([me, on], me.key, new Set()).byKey(hex(on.key))!.online).toBe(false)
  })

  it('a device key declared by several members vouches for none of them', () => {
    const me = member(0, 'Me', { role: 'owner' })
    const honest = member(1, 'Honest')
    const copier = member(2, 'Copier', { device: b4a.from(honest.device!) })
    const p = projectMembers([me, honest, copier], me.key, new Set([hex(honest.device!)]))
    expect(p.byKey(hex(honest.key))).toMatchObject({ online: false, device: null, deviceHex: null })
    expect(p.byKey(hex(copier.key))).toMatchObject({ online: false, device: null })
    expect(p.byDevice(hex(honest.device!))).toBeUndefined()
    // Once the copier is removed, the honest member's device counts again.
    const after = projectMembers([me, honest, { ...copier, removed: true }], me.key, new Set([hex(honest.device!)]))
    expect(after.byKey(hex(honest.key))!.online).toBe(true)
  })

  it('a removed device is not self, and the projection has no self then', () => {
    const me = member(0, 'Me', { removed: true })
    const owner = member(1, 'Owner', { role: 'owner' })
    const p = projectMembers([me, owner], me.key, new Set())
    expect(p.self).toBeUndefined()
    expect(p.removed[0]!.self).toBe(false)
  })
})
