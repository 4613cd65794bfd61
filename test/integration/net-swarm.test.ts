import { describe, expect, it } from 'vitest'
import b4a from 'b4a'
import { converged, createDevice, eventually, shareDocument, testnet } from '../helpers/net.js'

describe('swarm on a loopback testnet', () => {
  it('two devices join, converge, leave and rejoin', async () => {
    const t = await testnet()
    const a = await createDevice(t, { name: 'a' })
    const b = await createDevice(t, { name: 'b' })
    const [da, db] = await shareDocument(a, [b], 'notes', 'hello')
    await converged([da!, db!], 'hello')
    db!.edit([{ from: 5, insert: ' world' }])
    await converged([da!, db!], 'hello world')
    expect(a.net!.peers).toEqual([b4a.toString(b.net!.publicKey, 'hex')])

    await b.offline()
    await eventually(() => a.net!.peers.length === 0, 'a to see b leave')
    da!.edit([{ from: 0, insert: '> ' }])
    db!.edit([{ from: db!.text.length, insert: '!' }])
    await b.online()
    await converged([da!, db!], '> hello world!')
  })
})
