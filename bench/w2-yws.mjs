// @ts-check
// W2's same-run baseline of a Yjs app synced the usual way: a y-websocket
// relay (y-websocket 2's `bin/utils` setupWSConnection behind a `ws` server,
// as its bin/server.cjs runs it) on 127.0.0.1, and n clients, each a Y.Doc
// with a WebsocketProvider in a process of its own. Client 0 types W2's
// keystrokes on W2's schedule (the same sessions w2.mjs typed into swarmpad,
// passed in by it), one Yjs transaction per patch as W2 makes one edit() per
// patch; the others watch. Measured as W2 is: from the keystroke at client 0
// (before its first transaction) to the transaction at a watcher after which
// its text is the text after that keystroke. Times are
// process.hrtime.bigint() (one monotonic clock for every process; checked).
//
// Usage: imported by w2.mjs (measureRelay); forked as
//        node bench/w2-yws.mjs --relay | --client URL   (with IPC)
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Child, serve } from './child.mjs'
import { applyChanges, matchArrivals, playSchedule } from './keystrokes.mjs'
import { waitFor } from './lib.mjs'

const SELF = fileURLToPath(import.meta.url)
const hr = () => process.hrtime.bigint().toString()
const LABEL = 'W2 y-websocket'
const spawnChild = (/** @type {string[]} */ args) => new Child(SELF, args, { label: `${LABEL} ${args[0]}`, readyMs: 30_000 })

/** @typedef {{ initial: string, keystrokes: Array<Array<[number, number, string]>>, at: number[] }} Session */

/**
 * One relay and n clients; the sessions typed one after another (each
 * starts from the text the one before ended with).
 * @param {number} n @param {Session[]} sessions
 * @returns {Promise<number[][]>} per session, latencies in ms, one per (keystroke, watcher)
 */
export async function measureRelay (n, sessions) {
  /** @type {Child[]} */
  const procs = []
  try {
    const relay = spawnChild(['--relay'])
    procs.push(relay)
    const { port } = await relay.ready
    /** @type {Child[]} */
    const clients = []
    for (let i = 0; i < n; i++) clients.push(spawnChild(['--client', `ws://127.0.0.1:${port}`]))
    procs.push(...clients)
    await Promise.all(clients.map((c) => c.ready))
    for (const c of clients) {
      const before = process.hrtime.bigint()
      const t = BigInt((await c.call('clock')).hr)
      if (t < before || t > process.hrtime.bigint()) throw new Error('W2 y-websocket: a client process does not share the bench\'s monotonic clock')
    }
    const [typist, ...watchers] = clients
    await waitFor(async () => (await typist.call('status')).synced, 'the typist to sync with the relay', LABEL)
    await typist.call('init', { text: sessions[0].initial })
    await waitFor(async () => {
      for (const c of clients) {
        const s = await c.call('status')
        if (!s.synced || s.text !== sessions[0].initial) return false
      }
      return true
    }, `${n} clients to be synced through the relay`, LABEL)
    const out = []
    for (const { initial, keystrokes, at } of sessions) {
      if ((await typist.call('status')).text !== initial) throw new Error('W2 y-websocket: a session does not start from the text the last one ended with')
      for (const w of watchers) await w.call('record')
      const { times } = await typist.call('type', { schedule: keystrokes.map((changes, i) => ({ at: at[i], changes })) })
      let final = initial
      for (const k of keystrokes) final = applyChanges(final, k)
      await waitFor(async () => {
        for (const w of watchers) if ((await w.call('status')).text !== final) return false
        return true
      }, 'every client to show every keystroke', LABEL)
      const samples = []
      for (const w of watchers) {
        const r = await w.call('results', { initial, keystrokes })
        for (let i = 0; i < keystrokes.length; i++) {
          if (r.arrived[i] === null) throw new Error(`W2 y-websocket: keystroke ${i} was never seen as such at a client (${r.unmatched} unmatched of ${r.changes})`)
          samples.push(Number(BigInt(r.arrived[i]) - BigInt(times[i])) / 1e6)
        }
      }
      out.push(samples)
    }
    return out
  } finally {
    await Promise.all(procs.map((p) => p.stop({ killAfterMs: 5000 }).catch(() => {})))
  }
}

/** The relay: y-websocket's own server setup (bin/server.cjs) on 127.0.0.1, port chosen by the OS. */
async function relayMain () {
  const http = await import('node:http')
  const { WebSocketServer } = await import('ws')
  const { setupWSConnection } = createRequire(import.meta.url)('y-websocket/bin/utils')
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', setupWSConnection)
  const server = http.createServer((_req, res) => { res.writeHead(200); res.end('okay') })
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const address = server.address()
  if (address === null || typeof address === 'string' || address.address !== '127.0.0.1') throw new Error('W2 y-websocket: the relay is not on loopback')
  serve({
    stop: async () => {
      setImmediate(() => {
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        server.close(() => process.exit(0))
        setTimeout(() => process.exit(0), 1000).unref()
      })
      return {}
    }
  }, { port: address.port })
}

/** A client: a Y.Doc synced through the relay by y-websocket's WebsocketProvider. @param {string} url */
async function clientMain (url) {
  if (!url.startsWith('ws://127.0.0.1:')) throw new Error(`W2 y-websocket: ${url} is not loopback`)
  const Y = await import('yjs')
  const { WebSocket } = await import('ws')
  const { WebsocketProvider } = await import('y-websocket')
  const doc = new Y.Doc()
  const ytext = doc.getText('w2')
  const provider = new WebsocketProvider(url, 'w2', doc, { WebSocketPolyfill: /** @type {any} */ (WebSocket), disableBc: true })
  /** @type {Array<[string, string]>} */
  let seen = []
  let recording = false
  doc.on('afterTransaction', (/** @type {any} */ tr) => {
    if (recording && !tr.local) seen.push([hr(), ytext.toString()])
  })
  serve({
    clock: async () => ({ hr: hr() }),
    status: async () => ({ synced: provider.synced, text: ytext.toString() }),
    init: async ({ text }) => { ytext.insert(0, text); return {} },
    record: async () => { seen = []; recording = true; return {} },
    /** Type a schedule: [{ at (ms from start), changes: [[from, to, insert], ...] }], one transaction per patch. */
    type: async ({ schedule }) => ({
      times: await playSchedule(schedule, (_i, changes) => {
        for (const [from, to, insert] of changes) {
          doc.transact(() => {
            if (to > from) ytext.delete(from, to - from)
            if (insert !== '') ytext.insert(from, insert)
          })
        }
      })
    }),
    /** Per keystroke, when this client first showed the text after it (as w2-device.mjs `results`). */
    results: async ({ initial, keystrokes }) => {
      recording = false
      return matchArrivals(seen, initial, keystrokes)
    },
    stop: async () => {
      setImmediate(() => {
        provider.destroy()
        doc.destroy()
        process.exit(0)
      })
      return {}
    }
  }, {})
}

if (process.argv[1] === SELF) {
  if (process.argv[2] === '--relay') await relayMain()
  else if (process.argv[2] === '--client') await clientMain(process.argv[3])
  else throw new Error('usage: fork(w2-yws.mjs, [\'--relay\']) or fork(w2-yws.mjs, [\'--client\', URL])')
}
