// The page's members list and cursors, computed from the membership
// projection without disk or network.
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import b4a from 'b4a'
import { membersInfo, presencePeers } from '../../src/server/member-lists.js'
import { projectMembers } from '../../src/doc/member-projection.js'
import { shownColor, shownName } from '../../src/doc/member-view.js'
import type { Member } from '../../src/doc/membership.js'

const member = (n: number, name: string, role: Member['role'] = 'writer'): Member => ({ n, key: randomBytes(32), role, clientId: n, carries: null, name, color: '', device: randomBytes(32), removed: false })
const hex = (b: Uint8Array) => b4a.toString(b, 'hex')

describe('members list', () => {
  it('marks self and online members, tells equal names apart, and lets only a writable owner manage', () => {
    const ann = member(0, 'Ann', 'owner')
    const bob = member(1, 'Bob')
    const fake = member(2, 'Bob')
    const info = membersInfo(projectMembers([ann, bob, fake], ann.key, new Set([hex(bob.device!)])), true)
    expect(info.canManage).toBe(true)
    expect(info.members.map((m) => [m.name, m.online, m.self])).toEqual([
      ['Ann', true, true],
      [`Bob (${hex(bob.key).slice(0, 8)})`, true, false],
      [`Bob (${hex(fake.key).slice(0, 8)})`, false, false]
    ])
    expect(info.members[1]!.color).toBe(shownColor(bob))
    expect(membersInfo(projectMembers([ann, bob], ann.key, new Set()), false).canManage).toBe(false)
    expect(membersInfo(projectMembers([ann, bob], bob.key, new Set()), true).canManage).toBe(false)
  })

  it('cursors: remote members online, named and coloured by the projection; other tabs of this device as "(another tab)"', () => {
    const ann = member(0, 'Ann', 'owner')
    const bob = member(1, '')
    const remote = [
      { writerKey: hex(bob.key), device: hex(bob.device!), name: 'claimed', color: '#000000', anchor: 1, head: 2, online: true },
      { writerKey: 'ff'.repeat(32), device: 'ee'.repeat(32), name: 'gone', color: '#123456', anchor: 0, head: 0, online: false }
    ]
    const shown = projectMembers([ann, bob], ann.key, new Set([hex(bob.device!)]))
    const peers = presencePeers(shown, remote, [{ clientID: 'tab2', cursor: { anchor: 3, head: 3 } }])
    expect(peers).toEqual([
      { id: hex(bob.key), name: shownName(bob), color: shownColor(bob), anchor: 1, head: 2, local: false },
      { id: 'tab:tab2', name: 'Ann (another tab)', color: shownColor(ann), anchor: 3, head: 3, local: true }
    ])
    expect(shownName(bob)).toBe(`member 2 (${hex(bob.key).slice(0, 6)})`)
  })
})
