// One swarmpad device for the LAN tests, run inside a network namespace:
//   ip netns exec NS node test/lan/device.mjs DIST_DIR HOME
// It reads one JSON command per line on stdin and answers one JSON line on
// stdout ({ id, ok: true, ... } or { id, ok: false, error }). DIST_DIR is a
// build of src/ (the test compiles one). No bootstrap node is configured: the
// device finds its peers by LAN discovery only.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const [dist, home] = process.argv.slice(2)
const { Swarmpad } = await import(pathToFileURL(join(dist, 'swarmpad.js')).href)
const { Network } = await import(pathToFileURL(join(dist, 'net', 'network.js')).href)
const { Invites } = await import(pathToFileURL(join(dist, 'pairing', 'invites.js')).href)

const sp = new Swarmpad({ home, ackInterval: 50 })
await sp.ready()
let net = null
let invites = null
let joinedAt = 0

const hex = (b) => Buffer.from(b).toString('hex')
const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')
const docOf = async (name) => (await sp.open(name)).doc

async function waitFor(check, ms) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return false
}

const commands = {
  async start({ lan = true }) {
    joinedAt = performance.now()
    net = new Network(sp, { bootstrap: [], lan })
    net.on('warning', () => {})
    await net.ready()
    invites = new Invites(sp, net.swarm)
    await invites.ready()
    return { device: hex(net.publicKey), lan: net.status().lan }
  },
  async invite({ name, role = 'writer' }) {
    const { code } = await invites.create(name, { role })
    return { code }
  },
  // Pair with an invite code: resolves once the document is in the library.
  async join({ code, name, timeout = 60000 }) {
    const t0 = performance.now()
    const entry = await invites.join(code, { name, timeoutMs: timeout })
    return { name: entry.name, role: entry.role, ms: performance.now() - t0 }
  },
  async create({ name, text }) {
    const { doc } = await sp.create(name, { text })
    return { key: hex(doc.key), encryptionKey: hex(doc.encryptionKey), writerKey: hex(doc.writerKey) }
  },
  async add({ name, key, encryptionKey, role = 'writer' }) {
    await sp.addDocument({ name, key: Buffer.from(key, 'hex'), encryptionKey: Buffer.from(encryptionKey, 'hex'), role })
    const doc = await docOf(name)
    return { writerKey: hex(doc.writerKey) }
  },
  async addMember({ name, writerKey }) {
    await (await docOf(name)).addMember(Buffer.from(writerKey, 'hex'), 'writer')
    return {}
  },
  async waitWritable({ name, timeout = 20000 }) {
    const doc = await docOf(name)
    return { writable: await waitFor(() => doc.writable, timeout) }
  },
  async edit({ name, at, insert }) {
    const doc = await docOf(name)
    await doc.edit([{ from: Math.min(at, doc.text.length), insert }]).durable
    return { text: doc.text.toString() }
  },
  async text({ name }) {
    return { text: (await docOf(name)).text.toString() }
  },
  // Wait until the text equals `text`; `sinceJoin` is the time since start().
  async waitText({ name, text, timeout = 30000 }) {
    const doc = await docOf(name)
    const ok = await waitFor(() => doc.text.toString() === text, timeout)
    return { reached: ok, text: doc.text.toString(), sinceJoin: performance.now() - joinedAt }
  },
  async status() {
    return net.status()
  },
  async close() {
    if (invites) await invites.close()
    if (net) await net.close()
    await sp.close()
    setImmediate(() => process.exit(0))
    return {}
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return send({ id: null, ok: false, error: 'bad json' })
  }
  try {
    const fn = commands[msg.cmd]
    if (!fn) throw new Error(`unknown command ${msg.cmd}`)
    send({ id: msg.id, ok: true, ...(await fn(msg)) })
  } catch (err) {
    send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) })
  }
})
rl.on('close', async () => {
  try {
    if (invites) await invites.close()
    if (net) await net.close()
    await sp.close()
  } finally {
    process.exit(0)
  }
})
send({ id: 'ready', ok: true })
