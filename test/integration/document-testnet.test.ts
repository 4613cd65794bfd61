import { expect, test } from 'vitest'
import { createDoc, joinDoc, eventually } from '../helpers/docs.js'
import { loopbackTestnet, joinSwarm } from '../helpers/testnet.js'

test('smoke: two documents over hyperswarm on a loopback testnet', async () => {
  const net = await loopbackTestnet(3)
  const a = await createDoc()
  const b = await joinDoc(a.doc)
  await joinSwarm(net.swarm(), a.doc)
  await joinSwarm(net.swarm(), b.doc)
  await a.doc.addMember(b.doc.writerKey, 'writer')
  await eventually(() => b.doc.writable, 'b writable')
  b.doc.edit([{ from: 0, insert: 'hi' }])
  await eventually(async () => { await a.doc.update(); return a.doc.text.toString() === 'hi' }, 'a sees b')
  expect(a.doc.text.toString()).toBe('hi')
})
