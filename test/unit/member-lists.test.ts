// The page's members list and cursors, computed without disk or network.
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import b4a from 'b4a'
import { membersInfo, presencePeers } from '../../src/server/member-lists.js'
import { shownColor } from '../../src/doc/member-view.js'
import type { Member } from '../../src/doc/membership.js'

const member = (n: number, name: string, role: Member['role'] = 'writer'): Member => ({ n, key: randomBytes(32), role, clientId: n, name, color: '', device: null, removed: false })
const hex = (m: Member) => b4a.toString(m.key, 'hex')

describe('members list', () => {
  it('marks self and online members, tells equal names apart, and lets only a writable owner manage', () => {
    const ann = member(0, 'Ann', 'owner')
    const bob = member(1, 'Bob')
    const fake = member(2, 'Bob')
    const info = membersInfo([ann, bob, fake], ann.key, new Set([hex(bob)]), true)
    expect(info.canManage).toBe(true)
    expect(info.members.map((m) => [m.name, m.online, m.self])).toEqual([
      ['Ann', true, true],
      [`Bob (${hex(bob).slice(0, 8)})`, true, false],
      [`Bob (${hex(fake).slice(0, 8)})`, false, false]
    ])
    expect(info.members[1]!.color).toBe(shownColor(bob))
    expect(membersInfo([ann, bob], ann.key, new Set(), false).canManage).toBe(false)
    expect(membersInfo([ann, bob], bob.key, new Set(), true).canManage).toBe(false)
  })

  it('cursors: remote members online with their name and colour, other tabs of this device as "(another tab)"', () => {
    const ann = member(0, 'Ann', 'owner')
    const bob = member(1, '')
    const remote = [
      { writerKey: hex(bob), name: '', color: '', anchor: 1, head: 2, online: true },
      { writerKey: 'ff'.repeat(32), name: 'gone', color: '#123456', anchor: 0, head: 0, online: false }
    ]
    const peers = presencePeers([ann, bob], remote, [{ clientID: 'tab2', cursor: { anchor: 3, head: 3 } }], ann)
    expect(peers).toEqual([
      { id: hex(bob), name: `member 2 (${hex(bob).slice(0, 6)})`, color: shownColor(bob), anchor: 1, head: 2, local: false },
      { id: 'tab:tab2', name: 'Ann (another tab)', color: shownColor(ann), anchor: 3, head: 3, local: true }
    ])
  })
})
