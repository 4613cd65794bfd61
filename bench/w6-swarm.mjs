// @ts-check
// Child process of W6's baseline: a fresh Hyperswarm, as a daemon configures
// its own on a loopback test network (DHT bound to 127.0.0.1, not
// firewalled, the given bootstrap only), joins TOPIC as a client and exits
// once connected. Prints how long that took inside this process.
//
// Usage: node bench/w6-swarm.mjs BOOTSTRAP TOPIC_HEX
import HyperDHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'

const t0 = performance.now()
const [bootstrapText, topicHex] = process.argv.slice(2)
const bootstrap = bootstrapText.split(',').map((s) => {
  const [host, port] = s.split(':')
  if (host !== '127.0.0.1') throw new Error(`bootstrap ${s} is not loopback`)
  return { host, port: Number(port) }
})
const dht = new HyperDHT({ bootstrap, host: '127.0.0.1', firewalled: false })
const swarm = new Hyperswarm({ dht })
const connected = new Promise((resolve) => swarm.once('connection', (conn) => {
  conn.on('error', () => {})
  resolve(undefined)
}))
const tJoin = performance.now()
swarm.join(Buffer.from(topicHex, 'hex'), { server: false, client: true })
await connected
const tConn = performance.now()
process.stdout.write(JSON.stringify({ joinToConnection: tConn - tJoin, startToConnection: tConn, importMs: t0 }) + '\n')
await swarm.destroy()
process.exit(0)
