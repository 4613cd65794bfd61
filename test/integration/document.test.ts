import { describe, expect, test } from 'vitest'
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
})
