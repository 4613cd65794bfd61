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
import { fork } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const SELF = fileURLToPath(import.meta.url)
const hr = () => process.hrtime.bigint().toString()

/** A forked process of this file and its IPC: { id, cmd, ...args } -> { id, ok, result | error }. */
class Child {
  /** @param {string[]} args */
  constructor (args) {
    this.child = fork(SELF, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    this.stderr = ''
    this.child.stderr?.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000) })
    this.nextId = 0
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.calls = new Map()
    this.exited = false
    this.gone = new Promise((resolve) => this.child.once('exit', resolve))
    /** @type {Promise<any>} */
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`W2 y-websocket ${args[0]}: not ready after 30 s: ${this.stderr}`)), 30_000)
      this.child.on('message', (/** @type {any} */ m) => {
        if (m.ready) { clearTimeout(timer); return resolve(m) }
        const c = this.calls.get(m.id)
        if (!c) return
        this.calls.delete(m.id)
        if (m.ok) c.resolve(m.result)
        else c.reject(new Error(m.error))
      })
      this.child.on('exit', (code) => {
        clearTimeout(timer)
        this.exited = true
        const err = new Error(`W2 y-websocket ${args[0]} exited (${code}): ${this.stderr}`)
        reject(err)
        for (const c of this.calls.values()) c.reject(err)
        this.calls.clear()
      })
    })
    this.ready.catch(() => {})
  }

  /** @param {string} cmd @param {Record<string, unknown>} [args] @returns {Promise<any>} */
  call (cmd, args = {}) {
    if (this.exited) return Promise.reject(new Error(`W2 y-websocket process exited: ${this.stderr}`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.child.send({ id, cmd, ...args })
    })
  }

  async stop () {
    if (this.exited) return
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    this.call('stop').catch(() => {})
    await this.gone
    clearTimeout(timer)
  }
}

/** @param {() => Promise<boolean>} check @param {string} what */
async function waitFor (check, what, ms = 60_000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`W2 y-websocket: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** @param {string} text @param {Array<[number, number, string]>} changes */
function applyChanges (text, changes) {
  for (const [from, to, insert] of changes) text = text.slice(0, from) + insert + text.slice(to)
  return text
}

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
    const relay = new Child(['--relay'])
    procs.push(relay)
    const { port } = await relay.ready
    /** @type {Child[]} */
    const clients = []
    for (let i = 0; i < n; i++) clients.push(new Child(['--client', `ws://127.0.0.1:${port}`]))
    procs.push(...clients)
    await Promise.all(clients.map((c) => c.ready))
    for (const c of clients) {
      const before = process.hrtime.bigint()
      const t = BigInt((await c.call('clock')).hr)
      if (t < before || t > process.hrtime.bigint()) throw new Error('W2 y-websocket: a client process does not share the bench\'s monotonic clock')
    }
    const [typist, ...watchers] = clients
    await waitFor(async () => (await typist.call('status')).synced, 'the typist to sync with the relay')
    await typist.call('init', { text: sessions[0].initial })
    await waitFor(async () => {
      for (const c of clients) {
        const s = await c.call('status')
        if (!s.synced || s.text !== sessions[0].initial) return false
      }
      return true
    }, `${n} clients to be synced through the relay`)
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
      }, 'every client to show every keystroke')
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
    await Promise.all(procs.map((p) => p.stop().catch(() => {})))
  }
}

/** Serve the parent's calls; exit when the parent goes away. @param {Record<string, (msg: any) => Promise<any>>} handlers @param {Record<string, unknown>} ready */
function serve (handlers, ready) {
  process.on('message', async (/** @type {any} */ msg) => {
    try {
      const fn = handlers[msg.cmd]
      if (!fn) throw new Error(`unknown command ${msg.cmd}`)
      process.send?.({ id: msg.id, ok: true, result: await fn(msg) })
    } catch (err) {
      process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true, ...ready })
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
    type: async ({ schedule }) => {
      const times = new Array(schedule.length)
      const start = performance.now()
      for (let i = 0; i < schedule.length; i++) {
        const wait = start + schedule[i].at - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        times[i] = hr()
        for (const [from, to, insert] of schedule[i].changes) {
          doc.transact(() => {
            if (to > from) ytext.delete(from, to - from)
            if (insert !== '') ytext.insert(from, insert)
          })
        }
      }
      return { times }
    },
    /** Per keystroke, when this client first showed the text after it (as w2-device.mjs `results`). */
    results: async ({ initial, keystrokes }) => {
      recording = false
      const arrived = new Array(keystrokes.length).fill(null)
      let state = initial
      /** @type {string[]} */
      const states = []
      const stateAfter = (/** @type {number} */ i) => {
        while (states.length <= i) states.push(state = applyChanges(state, keystrokes[states.length]))
        return states[i]
      }
      let p = 0
      let unmatched = 0
      for (const [t, text] of seen) {
        let i = p
        while (i < keystrokes.length && stateAfter(i) !== text) i++
        if (i === keystrokes.length) { unmatched++; continue }
        for (; p <= i; p++) arrived[p] = t
      }
      return { arrived, unmatched, changes: seen.length }
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
