// History for the page (src/server/history.ts): the text after any number of
import b4a from 'b4a'
// accepted updates, across snapshots, and blame by member.
import { describe, expect, test } from 'vitest'
import { DocumentHistory } from '../../src/server/history.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import { connect, createDoc, eventually } from '../helpers/docs.js'

describe('DocumentHistory', () => {
  test('text at every index, across a snapshot, forward and backward', async () => {
    const { doc } = await createDoc()
    const texts: string[] = [''] // texts[i]: after i accepted updates
    const n = SNAPSHOT_INTERVAL + 40
    for (let i = 0; i < n; i++) {
      await doc.edit([{ from: doc.text.length, insert: String(i % 10) }]).durable
      await doc.settled()
      texts[doc.updateCount] = doc.text.toString()
    }
    expect(doc.updateCount).toBeGreaterThan(SNAPSHOT_INTERVAL)
    const h = new DocumentHistory(doc)
    expect(await h.first()).toBe(0)
    const count = doc.updateCount
    for (const i of [count, 1, SNAPSHOT_INTERVAL + 3, SNAPSHOT_INTERVAL - 1, SNAPSHOT_INTERVAL, SNAPSHOT_INTERVAL + 5, 0, count - 1]) {
      const expected = texts[i]
      if (expected === undefined) continue
      expect((await h.textAt(i, null)).text, `text at ${i}`).toBe(expected)
    }
    await expect(h.textAt(count + 1, null)).rejects.toThrow(/not between 0 and/)
    await expect(h.textAt(-1, null)).rejects.toThrow(/not between 0 and/)
    const { points } = await h.timeline()
    expect(points.length).toBe(Math.min(count, 2000))
    expect(points[points.length - 1]!.index).toBe(count)
    h.close()
  })

  test('blame names the member who wrote each character', async () => {
    const a = await createDoc()
    const b = await createDoc({ key: a.doc.key, encryptionKey: a.doc.encryptionKey })
    await a.doc.addMember(b.doc.writerKey, 'writer')
    connect(a.doc, b.doc)
    await eventually(async () => {
      await b.doc.update()
      return b.doc.writable
    }, 'b to become a writer')
    await a.doc.edit([{ from: 0, insert: 'AAAA' }]).durable
    await eventually(async () => {
      await b.doc.update()
      return b.doc.text.toString() === 'AAAA'
    }, 'b to see AAAA')
    await b.doc.edit([{ from: 2, insert: 'bb' }]).durable
    await eventually(async () => {
      await a.doc.update()
      return a.doc.text.toString() === 'AAbbAA'
    }, 'a to see bb')
    const members = (await a.doc.membership()).members
    const map = new Map(members.map((m) => [m.clientId, m.n] as const))
    const h = new DocumentHistory(a.doc)
    const now = await h.textAt(a.doc.updateCount, map)
    expect(now.text).toBe('AAbbAA')
    const nA = members.find((m) => b4a.equals(m.key, a.doc.writerKey))!.n
    const nB = members.find((m) => b4a.equals(m.key, b.doc.writerKey))!.n
    expect(now.blame).toEqual([
      [0, 2, nA],
      [2, 4, nB],
      [4, 6, nA]
    ])
    // Before B's update: all A's.
    const before = await h.textAt(a.doc.updateCount - 1, map)
    expect(before.text).toBe('AAAA')
    expect(before.blame).toEqual([[0, 4, nA]])
    h.close()
  })
})
