// @ts-check
// W3: a fresh device joins a document that holds the automerge-paper trace and
// reaches its final text, against Yjs loading the final encoded state.
import * as Y from 'yjs'
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream'
import { SwarmDocument } from '../dist/sync/document.js'
import { loadTrace, sequentialEdits, median, tempDir, tick, row } from './lib.mjs'

async function buildSource (edits, dir) {
  const store = new Corestore(dir)
  const doc = new SwarmDocument(store.namespace('src'), { key: null, encryptionKey: randomBytes(32) })
  await doc.ready()
  for (let i = 0; i < edits.length; i++) {
    doc.edit([edits[i]])
    if (i % 100 === 99) await tick()
  }
  await doc.flush()
  return { doc, store }
}

async function join (source, dir, expected) {
  const store = new Corestore(dir)
  const t0 = performance.now()
  const doc = new SwarmDocument(store.namespace('join'), { key: source.doc.key, encryptionKey: source.doc.encryptionKey })
  const s1 = source.doc.replicate(true)
  const s2 = doc.replicate(false)
  pipeline(s1, s2, s1, () => {})
  await doc.ready()
  while (doc.text.length !== expected.length || doc.text.toString() !== expected) {
    await new Promise((resolve) => doc.once('change', resolve))
  }
  const ms = performance.now() - t0
  s1.destroy()
  s2.destroy()
  await doc.close()
  await store.close()
  return ms
}

export async function run ({ reps }) {
  const trace = loadTrace('sequential/automerge-paper.json.gz')
  const edits = sequentialEdits(trace)
  const srcDir = await tempDir()
  const source = await buildSource(edits, srcDir.dir)
  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('text')
  for (const e of edits) ydoc.transact(() => { if (e.to > e.from) ytext.delete(e.from, e.to - e.from); if (e.insert) ytext.insert(e.from, e.insert) })
  const state = Y.encodeStateAsUpdate(ydoc)
  const ours = []
  const base = []
  const rss = []
  try {
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now()
      const fresh = new Y.Doc()
      Y.applyUpdate(fresh, state)
      if (fresh.getText('text').toString() !== trace.endContent) throw new Error('W3 baseline text differs')
      base.push(performance.now() - t0)
      const tmp = await tempDir()
      try {
        ours.push(await join(source, tmp.dir, trace.endContent))
        rss.push(process.memoryUsage().rss)
      } finally {
        await tmp.remove()
      }
    }
  } finally {
    await source.doc.close()
    await source.store.close()
    await srcDir.remove()
  }
  const peak = Math.max(...rss)
  return [
    row({ id: 'W3', name: `fresh device joins automerge-paper (${trace.endContent.length} chars)`, value: median(ours), unit: 'ms', baseline: 'Yjs load of final state', baselineValue: median(base), target: '< 250 ms; RSS <= 1 GiB', pass: median(ours) < 250 && peak <= 2 ** 30, note: `peak RSS ${Math.round(peak / 2 ** 20)} MiB` })
  ]
}
