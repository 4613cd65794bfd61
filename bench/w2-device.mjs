// @ts-check
// A device of W2: the real daemon (dist/daemon/daemon.js: storage, network
// on the loopback testnet, presence, page hub, local server), started as
// `swarmpad daemon --home H --bootstrap B --no-lan` starts it, in this child
// process of the bench, plus an IPC channel through which the bench sets up
// the shared document and asks for keystrokes and timings. For W7 it also
// forks an editor (this file with --editor: its own process, as Neovim is)
// that runs a real `swarmpad client` (bin/swarmpad.js) and speaks Teamtype's
// editor protocol to it over its stdio, as an editor plugin does.
//
// Timestamps are process.hrtime.bigint(): CLOCK_MONOTONIC, one clock for
// every process of the machine (the bench checks this at start), so an
// edit() time taken here and a change time taken in another device's process
// can be subtracted.
//
// Usage: node bench/w2-device.mjs HOME BOOTSTRAP   (forked, with IPC)
//        node bench/w2-device.mjs --editor         (forked by a device, with IPC)
import Autobase from 'autobase'
import { Text } from '@codemirror/state'
import b4a from 'b4a'
import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child, serve } from './child.mjs'
import { matchArrivals, playSchedule } from './keystrokes.mjs'
import { Daemon } from '../dist/daemon/daemon.js'

const editorMode = process.argv[2] === '--editor'
const [home, bootstrap] = editorMode ? ['', ''] : process.argv.slice(2)
if (!process.send || (!editorMode && (!home || !bootstrap))) throw new Error('usage: fork(w2-device.mjs, [HOME, BOOTSTRAP]) or fork(w2-device.mjs, [\'--editor\'])')
if (!editorMode) for (const b of bootstrap.split(',')) if (!b.startsWith('127.')) throw new Error(`bootstrap ${b} is not loopback`)

const hr = () => process.hrtime.bigint().toString()
const logFile = join(home, 'bench-device.log')
const daemon = editorMode ? /** @type {Daemon} */ (/** @type {unknown} */ (null)) : new Daemon({ home, bootstrap, lan: false, log: (line) => void appendFile(logFile, line + '\n').catch(() => {}) })
if (!editorMode) await daemon.ready()

/** @type {import('../dist/sync/document.js').SwarmDocument | null} */
let doc = null
/** @type {any} */
let raw = null
/** remote changes seen while recording: [hrtime, text] (document) or hrtime per view entry (raw) */
/** @type {Array<[string, string]>} */
let docChanges = []
/** @type {string[]} */
let rawTimes = []
/** local changes seen while recording (BENCH_DEBUG: when an editor's keystroke reached this daemon's document) */
/** @type {string[]} */
let localTimes = []
let recording = false
let rawSeen = 0

/** The raw Autobase of the baseline: one view core that gets every block as is. */
function rawBase (key) {
  const base = new Autobase(daemon.swarmpad.store.namespace('bench-w2-raw'), key, {
    open: (store) => store.get('log'),
    apply: async (nodes, view, host) => {
      for (const node of nodes) {
        if (node.value === null) continue
        const v = b4a.from(node.value)
        if (v.length === 33 && v[0] === 0xff) await host.addWriter(v.subarray(1), { indexer: false })
        else await view.append(v)
      }
    },
    valueEncoding: 'binary',
    encryptionKey: doc?.encryptionKey,
    encrypted: true
  })
  // As the network does for documents: Autobase's wakeup protocol on every connection.
  const swarm = daemon.network.swarm
  const addStream = (conn) => { try { base.wakeupProtocol.addStream(conn) } catch {} }
  for (const conn of swarm.connections) addStream(conn)
  swarm.on('connection', addStream)
  base.on('update', () => {
    if (!recording) return
    const t = hr()
    while (rawSeen < base.view.length) { rawTimes.push(t); rawSeen++ }
  })
  base.on('error', () => {})
  return base
}

// --- W7: an editor client (Teamtype's protocol, through a real `swarmpad client`) ---

// The editor's buffer is a CodeMirror Text (lines in a balanced tree), so
// that placing and applying an edit costs what it costs in an editor (a line
// array in Neovim), not a split of the whole text per keystroke.

/** UTF-16 offset -> { line, character } in code points. @param {Text} text @param {number} offset */
function positionOf (text, offset) {
  const line = text.lineAt(offset)
  return { line: line.number - 1, character: [...line.text.slice(0, offset - line.from)].length }
}

/** Apply an editor protocol delta (code points, ranges against the text before). @param {Text} text @param {any[]} delta */
function applyDelta (text, delta) {
  const at = (/** @type {any} */ p) => {
    const line = text.line(p.line + 1)
    return line.from + [...line.text].slice(0, p.character).join('').length
  }
  const spans = delta.map((d) => [at(d.range.start), at(d.range.end), d.replacement])
  for (const [from, to, insert] of spans.reverse()) text = text.replace(from, to, Text.of(insert.split('\n')))
  return text
}

/** The W7 editor of this device (a process of its own), once started. @type {Child | null} */
let editorChild = null

/** Call the editor process (as the bench calls a device). @param {string} cmd @param {Record<string, unknown>} [args] */
function editorCall (cmd, args = {}) {
  if (editorChild === null) return Promise.reject(new Error('W7: no editor'))
  return editorChild.call(cmd, args)
}

/** Stop the editor (it closes its `swarmpad client`); SIGKILL after 10 s. */
async function stopEditor () {
  const child = editorChild
  editorChild = null
  await child?.stop({ killAfterMs: 10_000, awaitStop: true })
}

async function startEditor () {
  const { writeLink } = await import('../dist/editor/marker.js')
  const { formatKey } = await import('../dist/storage/keys.js')
  const { mkdir } = await import('node:fs/promises')
  const { pathToFileURL } = await import('node:url')
  if (doc === null) throw new Error('no document')
  const dir = join(home, 'editor')
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'w2.txt')
  await writeLink(file, { doc: formatKey(doc.key), name: 'w2' })
  editorChild = new Child(fileURLToPath(import.meta.url), ['--editor'], { label: 'W7 editor' })
  await editorChild.ready
  return editorCall('start', {
    dir,
    uri: pathToFileURL(file).href,
    content: doc.text.toString(),
    env: { ...process.env, SWARMPAD_HOME: home, SWARMPAD_BOOTSTRAP: bootstrap, SWARMPAD_LAN: '0' }
  })
}

// --- W7's editor: this file with --editor, forked by a device ---
// It runs `swarmpad client` and speaks Teamtype's protocol to it over its
// stdio, as an editor plugin does, in a process of its own (as Neovim is:
// its work does not wait for the daemon's event loop, nor the daemon's for it).

/** @type {any} */
let editor = null

const editorHandlers = {
  /** Start `swarmpad client` in `dir` and open `uri` with `content`. */
  start: async ({ dir, uri, content, env }) => {
    const { encodeFrame, FrameDecoder } = await import('../dist/editor/framing.js')
    const { spawn } = await import('node:child_process')
    const bin = new URL('../bin/swarmpad.js', import.meta.url).pathname
    const child = spawn(process.execPath, [bin, 'client'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] })
    const decoder = new FrameDecoder()
    const e = {
      child,
      uri,
      /** @type {Text} */
      content: Text.of(content.split('\n')),
      editorRevision: 0,
      daemonRevision: 0,
      nextId: 1,
      /** @type {Map<number, (m: any) => void>} */
      waiting: new Map(),
      /** [hrtime, content] after every edit notification applied, while recording */
      /** @type {Array<[string, Text]>} */
      seen: [],
      recording: false,
      send (/** @type {any} */ m) { child.stdin.write(encodeFrame(JSON.stringify({ jsonrpc: '2.0', ...m }))) },
      request (/** @type {string} */ method, /** @type {any} */ params) {
        const id = e.nextId++
        return new Promise((resolve) => { e.waiting.set(id, resolve); e.send({ id, method, params }) })
      }
    }
    child.stderr.on('data', () => {})
    child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
      for (const f of decoder.push(chunk)) {
        if (f.type !== 'message') continue
        const m = JSON.parse(f.body)
        if (m.method === 'edit' && m.params.revision === e.editorRevision) {
          e.content = applyDelta(e.content, m.params.delta)
          e.daemonRevision++
          if (e.recording) e.seen.push([hr(), e.content])
        } else if (m.method === undefined && e.waiting.has(m.id)) {
          e.waiting.get(m.id)?.(m)
          e.waiting.delete(m.id)
        }
      }
    })
    const answer = await e.request('open', { uri: e.uri, content: e.content.toString() })
    if (answer.error) throw new Error(`W7: open refused: ${answer.error.message}`)
    editor = e
    return { content: e.content.toString() }
  },
  record: async () => {
    editor.seen = []
    editor.recording = true
    return { content: editor.content.toString() }
  },
  /** Type a schedule through the editor client: [{ at, changes: [[from, to, insert]] }] in UTF-16 of the editor's text. */
  type: async ({ schedule }) => {
    // One edit per patch, as an editor sends one per change of its buffer.
    const times = await playSchedule(schedule, (_i, changes) => {
      for (const [from, to, insert] of changes) {
        const delta = [{ range: { start: positionOf(editor.content, from), end: positionOf(editor.content, to) }, replacement: insert }]
        editor.content = editor.content.replace(from, to, Text.of(insert.split('\n')))
        editor.editorRevision++
        editor.send({ id: editor.nextId++, method: 'edit', params: { uri: editor.uri, revision: editor.daemonRevision, delta } })
      }
    })
    return { times, content: editor.content.toString() }
  },
  status: async () => ({ content: editor?.content.toString() ?? null }),
  /** Per keystroke, when this editor first showed it (as `results` does for the daemon). */
  results: async ({ initial, keystrokes }) => {
    editor.recording = false
    return matchArrivals(editor.seen.map(([t, content]) => [t, content.toString()]), initial, keystrokes)
  },
  stop: async () => {
    setImmediate(async () => {
      if (editor !== null) {
        const gone = new Promise((resolve) => editor.child.once('exit', resolve))
        editor.child.stdin.end()
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))])
      }
      process.exit(0)
    })
    return {}
  }
}

const handlers = {
  clock: async () => ({ hr: hr() }),
  'editor-start': startEditor,
  'editor-record': () => editorCall('record'),
  'editor-type': ({ schedule }) => editorCall('type', { schedule }),
  'editor-status': async () => (editorChild === null ? { content: null } : editorCall('status')),
  'editor-results': ({ initial, keystrokes }) => editorCall('results', { initial, keystrokes }),
  /** Close the editor (and with it its `swarmpad client`), so that a later W2 session runs as W2's do, without one. */
  'editor-stop': async () => {
    await stopEditor()
    return {}
  },
  create: async ({ text }) => {
    const open = await daemon.swarmpad.create('w2', { text })
    doc = open.doc
    return { key: b4a.toString(doc.key, 'hex'), encryptionKey: b4a.toString(doc.encryptionKey, 'hex') }
  },
  join: async ({ key, encryptionKey }) => {
    await daemon.swarmpad.addDocument({ name: 'w2', key: b4a.from(key, 'hex'), encryptionKey: b4a.from(encryptionKey, 'hex'), role: 'writer' })
    doc = (await daemon.swarmpad.open('w2')).doc
    return { writerKey: b4a.toString(doc.writerKey, 'hex') }
  },
  add: async ({ writerKeys }) => {
    for (const k of writerKeys) await doc?.addMember(b4a.from(k, 'hex'), 'writer')
    return {}
  },
  status: async () => ({
    writable: doc?.writable ?? false,
    length: doc?.text.length ?? -1,
    text: doc?.text.toString() ?? '',
    peers: daemon.network.peers.length,
    rawLength: raw?.view?.length ?? -1,
    rawWritable: raw?.writable ?? false
  }),
  'raw-create': async () => {
    raw = rawBase(null)
    await raw.ready()
    return { key: b4a.toString(raw.key, 'hex') }
  },
  'raw-join': async ({ key }) => {
    raw = rawBase(b4a.from(key, 'hex'))
    await raw.ready()
    return { writerKey: b4a.toString(raw.local.key, 'hex') }
  },
  'raw-add': async ({ writerKeys }) => {
    for (const k of writerKeys) await raw.append(b4a.concat([b4a.from([0xff]), b4a.from(k, 'hex')]))
    return {}
  },
  'raw-update': async () => {
    await raw.update()
    return { length: raw.view.length, writable: raw.writable }
  },
  record: async () => {
    docChanges = []
    rawTimes = []
    localTimes = []
    rawSeen = raw?.view?.length ?? 0
    recording = true
    return {}
  },
  /** Type a schedule: [{ at (ms from start), changes: [[from, to, insert], ...] }], mode 'doc' or 'raw'. */
  type: async ({ schedule, mode }) => {
    const times = await playSchedule(schedule, (i, changes) => {
      if (mode === 'raw') raw.append(b4a.from(`k${i}`)).catch(() => {})
      else for (const [from, to, insert] of changes) doc?.edit([{ from, to, insert }])
    })
    if (mode === 'raw') await raw.update()
    else await doc?.flush()
    return { times }
  },
  /**
   * Per keystroke, when this device first showed it. `initial` and `patches`
   * give the expected text after each keystroke (document mode).
   */
  results: async ({ mode, initial, keystrokes }) => {
    recording = false
    if (mode === 'raw') return { arrived: rawTimes.slice(0, keystrokes.length) }
    return matchArrivals(docChanges, initial, keystrokes)
  },
  'local-times': async () => ({ times: localTimes }),
  stop: async () => {
    setImmediate(async () => {
      await stopEditor().catch(() => {})
      await raw?.close().catch(() => {})
      await daemon.close().catch(() => {})
      process.exit(0)
    })
    return {}
  }
}

// The document's remote changes, as they are applied here.
const onOpen = (/** @type {any} */ open) => {
  open.doc.on('change', (/** @type {any} */ c) => {
    if (!recording) return
    const t = hr()
    if (c.origin !== 'remote') return void localTimes.push(t)
    docChanges.push([t, open.doc.text.toString()])
  })
}
if (editorMode) {
  serve(editorHandlers)
  // The device went away (killed): so does its editor, and with it the client.
  process.on('disconnect', () => {
    editor?.child.kill()
    process.exit(0)
  })
} else {
  serve(handlers)
  daemon.swarmpad.on('document-open', onOpen)
}
process.send({ ready: true, pid: process.pid })
