import { describe, expect, test } from 'vitest'
import b4a from 'b4a'
import { randomBytes } from 'node:crypto'
import { createDoc, joinDoc, connect, converge, eventually } from '../helpers/docs.js'

describe('document', () => {
  test('edits locally and survives reopen', async () => {
    const a = await createDoc()
    const r = a.doc.edit([{ from: 0, insert: 'hello world' }])
    await r.durable
    a.doc.edit([{ from: 5, to: 11, insert: '' }])
    await a.doc.flush()
    expect(a.doc.text.toString()).toBe('hello')
    const b = await a.reopen()
    expect(b.doc.text.toString()).toBe('hello')
    b.doc.edit([{ from: 5, insert: '!' }])
    await b.doc.flush()
    expect(b.doc.text.toString()).toBe('hello!')
  })

  test('two peers converge', async () => {
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    connect(a.doc, b.doc)
    await a.doc.addMember(b.doc.writerKey, 'writer')
    await eventually(() => b.doc.writable, 'b to become writable')
    a.doc.edit([{ from: 0, insert: 'aaa' }])
    b.doc.edit([{ from: 0, insert: 'bbb' }])
    await converge([a.doc, b.doc])
    expect(a.doc.text.toString()).toHaveLength(6)
  })

  test('profile changes started at the same moment both stay: each field left out keeps its value', async () => {
    // The network adds the device key when the document becomes writable,
    // while a join sets the name from the device profile (a CI run lost the
    // name: the network's block, built from the name it had read before,
    // landed last).
    const a = await createDoc()
    const device = randomBytes(32)
    await Promise.all([a.doc.setProfile({ device }), a.doc.setProfile({ name: 'Bob', color: '#123456' })])
    let self = await a.doc.self()
    expect(self?.name).toBe('Bob')
    expect(self?.color).toBe('#123456')
    expect(b4a.equals(self!.device!, device)).toBe(true)
    await Promise.all([a.doc.setProfile({ name: 'Robert' }), a.doc.setProfile({ device: null })])
    self = await a.doc.self()
    expect([self?.name, self?.color, self?.device]).toEqual(['Robert', '#123456', null])
  })
})
