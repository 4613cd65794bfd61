// @ts-check
// W1: the automerge-paper trace typed through the real path (edit() -> Y.Doc
// -> append queue -> Autobase on disk), as fast as it goes, against plain Yjs
// with one transaction per edit and every update captured.
// W5: after W1, the bytes of the storage root and a cold open in a new process.
import * as Y from 'yjs'
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SwarmDocument } from '../dist/sync/document.js'
import { loadTrace, sequentialEdits, median, tempDir, dirBytes, tick, row } from './lib.mjs'

/** Edits fed per turn of the event loop (a fast typist's burst). */
const BURST = 100

/** @param {{from:number,to:number,insert:string}[]} edits */
async function yjsBaseline (edits) {
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const updates = []
  doc.on('update', (u) => updates.push(u))
  const t0 = performance.now()
  for (let i = 0; i < edits.length; i++) {
    const e = edits[i]
    doc.transact(() => {
      if (e.to > e.from) text.delete(e.from, e.to - e.from)
      if (e.insert) text.insert(e.from, e.insert)
    })
    if (i % BURST === BURST - 1) await tick()
  }
  const ms = performance.now() - t0
  return { ms, text: text.toString(), state: Y.encodeStateAsUpdate(doc), updates: updates.length }
}

/** @param {{from:number,to:number,insert:string}[]} edits @param {string} dir */
async function swarmpadReplay (edits, dir) {
  const store = new Corestore(dir)
  const encryptionKey = randomBytes(32)
  const doc = new SwarmDocument(store.namespace('bench'), { key: null, encryptionKey })
  await doc.ready()
  const t0 = performance.now()
  for (let i = 0; i < edits.length; i++) {
    doc.edit([edits[i]])
    if (i % BURST === BURST - 1) await tick()
  }
  await doc.flush()
  const ms = performance.now() - t0
  const result = { ms, text: doc.text.toString(), key: doc.key, encryptionKey, blocks: doc.appendStats.blocks }
  await doc.close()
  await store.close()
  return result
}

/** Open the document in a fresh process; returns ms from opening the store to having the text. */
function coldOpen (dir, key, encryptionKey) {
  const child = fileURLToPath(new URL('./cold-open.mjs', import.meta.url))
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir, key.toString('hex'), encryptionKey.toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cold open exited with ${code}`))))
  })
}

export async function run ({ reps }) {
  const trace = loadTrace('sequential/automerge-paper.json.gz')
  const edits = sequentialEdits(trace)
  const ours = []
  const base = []
  const opens = []
  const yloads = []
  let disk = 0
  let yjsBytes = 0
  let blocks = 0
  for (let r = 0; r < reps; r++) {
    const y = await yjsBaseline(edits)
    if (y.text !== trace.endContent) throw new Error('W1 baseline: Yjs text differs from endContent')
    base.push(y.ms)
    yjsBytes = y.state.length
    const t0 = performance.now()
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, y.state)
    fresh.getText('text').toString()
    yloads.push(performance.now() - t0)

    const tmp = await tempDir()
    try {
      const s = await swarmpadReplay(edits, tmp.dir)
      if (s.text !== trace.endContent) throw new Error('W1: swarmpad text differs from endContent')
      ours.push(s.ms)
      blocks = s.blocks
      disk = await dirBytes(tmp.dir)
      const open = await coldOpen(tmp.dir, s.key, s.encryptionKey)
      if (open.length !== trace.endContent.length) throw new Error('W5: cold open text differs')
      opens.push(open.ms)
    } finally {
      await tmp.remove()
    }
  }
  const finalBytes = Buffer.byteLength(trace.endContent)
  return [
    row({ id: 'W1', name: `automerge-paper, ${edits.length} edits through edit() -> Autobase (${blocks} blocks)`, value: median(ours), unit: 'ms', baseline: 'Yjs, 1 txn per edit, updates captured', baselineValue: median(base), target: 'ratio <= 1.0', pass: median(ours) <= median(base) }),
    row({ id: 'W5-disk', name: 'storage root after W1', value: disk, unit: 'bytes', baseline: 'Yjs encoded state', baselineValue: yjsBytes, target: `<= 10x final text (${10 * finalBytes} B)`, pass: disk <= 10 * finalBytes }),
    row({ id: 'W5-open', name: 'cold open to text, new process', value: median(opens), unit: 'ms', baseline: 'Yjs load of encoded state', baselineValue: median(yloads), target: '<= 100 ms', pass: median(opens) <= 100 })
  ]
}
