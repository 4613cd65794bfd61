// @ts-check
// W1: the automerge-paper trace typed through the real path (edit() -> Y.Doc
// -> append queue -> Autobase on disk), as fast as it goes, against plain Yjs
// with one transaction per edit and every update captured.
// W5: after W1, the bytes of the storage root and a cold open in a new process.
import * as Y from 'yjs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Swarmpad } from '../dist/swarmpad.js'
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

/**
 * The real path on one device: a Swarmpad storage root (as the daemon holds
 * it), a new document, the edits through edit(), then close (which writes the
 * checkpoint and compacts the store, as the daemon does when it stops).
 * @param {{from:number,to:number,insert:string}[]} edits @param {string} home
 */
async function swarmpadReplay (edits, home) {
  const swarmpad = new Swarmpad({ home })
  await swarmpad.ready()
  const { doc } = await swarmpad.create('bench')
  const t0 = performance.now()
  for (let i = 0; i < edits.length; i++) {
    doc.edit([edits[i]])
    if (i % BURST === BURST - 1) await tick()
  }
  await doc.flush()
  const ms = performance.now() - t0
  const result = { ms, text: doc.text.toString(), blocks: doc.appendStats.blocks }
  await swarmpad.close()
  return result
}

/** Open the document in a fresh process; returns ms from opening the store to having the text. */
function coldOpen (home) {
  const child = fileURLToPath(new URL('./cold-open.mjs', import.meta.url))
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, home, 'bench'], { stdio: ['ignore', 'pipe', 'inherit'] })
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
      const open = await coldOpen(tmp.dir)
      if (open.length !== trace.endContent.length || open.from !== 'checkpoint') throw new Error(`W5: cold open gave ${open.length} characters from the ${open.from}`)
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
