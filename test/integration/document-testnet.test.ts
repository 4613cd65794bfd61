// The same convergence as document-sync.test.ts, over Hyperswarm on a
// loopback HyperDHT testnet (every node on 127.0.0.1; see helpers/testnet.ts).
import { describe, expect, test } from 'vitest'
import { addWriter, converge, createDoc, joinDoc, randomEdit, rejectionList, yText } from '../helpers/docs.js'
import { joinSwarm, loopbackTestnet } from '../helpers/testnet.js'
import { seeded } from '../helpers/prng.js'

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('documents over Hyperswarm on a loopback testnet', () => {
  test('two documents: a writer added over the swarm edits and both see it', async () => {
    const net = await loopbackTestnet(3)
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    await joinSwarm(net.swarm(), a.doc)
    await joinSwarm(net.swarm(), b.doc)
    await addWriter(a.doc, b.doc)
    b.doc.edit([{ from: 0, insert: 'hi' }])
    await converge([a.doc, b.doc])
    expect(a.doc.text.toString()).toBe('hi')
  })

  test('three documents: concurrent random edits converge; a peer that leaves, edits and rejoins merges', async (ctx) => {
    const rng = seeded(ctx)
    const net = await loopbackTestnet(3)
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    const c = await joinDoc(a.doc)
    const swarms = [net.swarm(), net.swarm(), net.swarm()]
    await joinSwarm(swarms[0]!, a.doc)
    await joinSwarm(swarms[1]!, b.doc)
    const leaveC = await joinSwarm(swarms[2]!, c.doc)
    await addWriter(a.doc, b.doc)
    await addWriter(a.doc, c.doc)
    const docs = [a.doc, b.doc, c.doc]
    for (let r = 0; r < 8; r++) {
      for (let k = rng.int(1, 8); k > 0; k--) randomEdit(rng, rng.pick(docs), `${r}`)
      await pause(rng.int(0, 30))
    }
    await Promise.all(docs.map((d) => d.flush()))
    await converge(docs)

    // c goes offline (its swarm is destroyed: every connection closes), edits, comes back.
    await leaveC()
    await swarms[2]!.destroy()
    for (let k = 0; k < 10; k++) randomEdit(rng, c.doc, 'c-off')
    c.doc.edit([{ from: 0, insert: '⟦c-offline⟧' }])
    a.doc.edit([{ from: a.doc.text.length, insert: '⟦a-meanwhile⟧' }])
    await Promise.all(docs.map((d) => d.flush()))
    expect(c.doc.text.toString()).not.toContain('⟦a-meanwhile⟧')
    await joinSwarm(net.swarm(), c.doc)
    await converge(docs, 45_000)
    const text = a.doc.text.toString()
    expect(text).toContain('⟦c-offline⟧')
    expect(text).toContain('⟦a-meanwhile⟧')
    for (const d of docs) {
      expect(d.text.toString()).toBe(text)
      expect(yText(d)).toBe(text)
      expect(await rejectionList(d)).toEqual([])
    }
    expect(net.remoteHosts().size).toBeGreaterThan(0)
    expect([...net.remoteHosts()]).toEqual(['127.0.0.1'])
  })
})
