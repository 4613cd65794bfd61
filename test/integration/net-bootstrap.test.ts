import { describe, expect, it } from 'vitest'
import { converged, createDevice, shareDocument } from '../helpers/net.js'
import { formatBootstrap, parseBootstrap, runBootstrapNode } from '../../src/net/bootstrap.js'
import { isSwarmpadError } from '../../src/errors.js'

function usageError(text: string): string {
  try {
    parseBootstrap(text)
  } catch (err) {
    if (isSwarmpadError(err, 'USAGE')) return err.message
    throw err
  }
  throw new Error(`"${text}" parsed`)
}

describe('bootstrap', () => {
  it('parses host:port lists and names the bad value', () => {
    expect(parseBootstrap('127.0.0.1:49737')).toEqual([{ host: '127.0.0.1', port: 49737 }])
    expect(parseBootstrap(' 10.0.0.1:1, node.example:65535 ')).toEqual([
      { host: '10.0.0.1', port: 1 },
      { host: 'node.example', port: 65535 }
    ])
    expect(formatBootstrap(parseBootstrap('a.b:2,1.2.3.4:5'))).toBe('a.b:2,1.2.3.4:5')
    expect(usageError('')).toMatch(/empty/)
    expect(usageError('   ')).toMatch(/empty/)
    expect(usageError('10.0.0.1')).toMatch(/"10.0.0.1".*missing :port/)
    expect(usageError('10.0.0.1:')).toMatch(/"10.0.0.1:".*missing port/)
    expect(usageError('10.0.0.1:0')).toMatch(/"10.0.0.1:0".*port 0 is out of range/)
    expect(usageError('10.0.0.1:65536')).toMatch(/port 65536 is out of range/)
    expect(usageError('10.0.0.1:http')).toMatch(/port "http" is not a number/)
    expect(usageError(':80')).toMatch(/missing host/)
    expect(usageError('a:1,,b:2')).toMatch(/empty entry/)
    expect(usageError('bad host:1')).toMatch(/"bad host" is not/)
    expect(usageError('[::1]:80')).toMatch(/IPv4/)
  })

  it('a bootstrap node is the only bootstrap two devices need to converge', async () => {
    const node = await runBootstrapNode({ host: '127.0.0.1' })
    try {
      expect(node.port).toBeGreaterThan(0)
      expect(node.addressText).toBe(`127.0.0.1:${node.port}`)
      const bootstrap = parseBootstrap(node.addressText)
      const a = await createDevice({ bootstrap }, { name: 'a' })
      const b = await createDevice({ bootstrap }, { name: 'b' })
      const [da, db] = await shareDocument(a, [b], 'notes', 'over a private DHT')
      await converged([da!, db!], 'over a private DHT')
      db!.edit([{ from: 0, insert: '> ' }])
      await converged([da!, db!], '> over a private DHT')
      expect(a.net!.status().bootstrap).toBe(node.addressText)
      await a.close()
      await b.close()
    } finally {
      await node.close()
    }
  })

  it('refuses a bootstrap node on 0.0.0.0 and reports a port in use', async () => {
    await expect(runBootstrapNode({ host: '0.0.0.0' })).rejects.toThrow(/--host/)
    const node = await runBootstrapNode({ host: '127.0.0.1' })
    try {
      await expect(runBootstrapNode({ host: '127.0.0.1', port: node.port })).rejects.toMatchObject({ code: 'PORT_IN_USE' })
    } finally {
      await node.close()
    }
  })
})
