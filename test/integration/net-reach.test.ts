import { describe, expect, it } from 'vitest'
import { createSocket } from 'node:dgram'
import createTestnet from 'hyperdht/testnet'
import { probeBootstrap, publicBootstrapNodes } from '../../src/net/reach.js'

// The bootstrap ping that decides, at start, whether a device with LAN
// discovery on runs on the local network alone. Loopback only.

describe('probeBootstrap', () => {
  it('a bootstrap node that answers is reachable at once (positive control)', async () => {
    const testnet = await createTestnet(3, { host: '127.0.0.1' })
    try {
      const r = await probeBootstrap(testnet.bootstrap, { host: '127.0.0.1', timeoutMs: 2000 })
      expect(r.reachable).toBe(true)
      expect(r.answered).toEqual(testnet.bootstrap[0])
      expect(r.ms).toBeLessThan(2000)
    } finally {
      await testnet.destroy()
    }
  })

  it('a socket that reads and never replies is unreachable, after the deadline and not much later', async () => {
    const sink = createSocket('udp4')
    let received = 0
    sink.on('message', () => received++)
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', () => resolve()))
    try {
      const r = await probeBootstrap([{ host: '127.0.0.1', port: sink.address().port }], { host: '127.0.0.1', timeoutMs: 800 })
      expect(r.reachable).toBe(false)
      expect(r.answered).toBeNull()
      expect(r.ms).toBeGreaterThanOrEqual(790)
      expect(r.ms).toBeLessThan(3000)
      expect(received).toBeGreaterThan(0)
    } finally {
      sink.close()
    }
  })

  it('knows the public nodes by address, so no DNS lookup is needed', () => {
    const nodes = publicBootstrapNodes()
    expect(nodes.length).toBeGreaterThan(0)
    for (const n of nodes) expect(n.host).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
  })
})
