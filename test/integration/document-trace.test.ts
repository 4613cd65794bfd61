// Replay a real editing history (the automerge-paper trace: 259,778
// single-character edits) through edit(), reopen it, and let a fresh peer
// join it. Prints the figures the issue asks for.
import { expect, test } from 'vitest'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'
import { decodeSnapshotEntry } from '../../src/doc/entries.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'
import { connect, createDoc, eventually, joinDoc, yText } from '../helpers/docs.js'

interface Trace {
  startContent: string
  endContent: string
  txns: Array<{ time: string; patches: Array<[number, number, string]> }>
}

const TRACE = join(import.meta.dirname, '../fixtures/traces/automerge-paper.json.gz')
/// Edits made in one turn of the event loop (a burst between two ticks: the
/// rest of the time goes to the append queue and Autobase), and edits between
/// two pauses in which the typist waits until everything is saved. The trace
/// has no real timing we could keep (it would take hours); the pauses make
/// the log look like one of a person who types in bursts, with enough blocks
/// for several snapshots.
const EDITS_PER_TICK = 32
const EDITS_PER_PAUSE = 300

const ms = (t: number) => `${t.toFixed(0)} ms`

test('automerge-paper trace: replay through edit(), reopen, fresh peer joins from the snapshot', { timeout: 120_000 }, async () => {
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE)).toString('utf8')) as Trace
  expect(trace.txns.length).toBe(259_778)
  const figures: Record<string, string | number> = {}

  let a = await createDoc()
  if (trace.startContent) a.doc.edit([{ from: 0, insert: trace.startContent }])
  const t0 = performance.now()
  let edits = 0
  for (const txn of trace.txns) {
    for (const [pos, del, insert] of txn.patches) {
      a.doc.edit([{ from: pos, to: pos + del, insert }])
      edits++
      if (edits % EDITS_PER_PAUSE === 0) await a.doc.flush()
      else if (edits % EDITS_PER_TICK === 0) await new Promise((r) => setImmediate(r))
    }
  }
  const typed = performance.now()
  await a.doc.flush()
  await a.doc.settled()
  const t1 = performance.now()
  expect(a.doc.text.toString()).toBe(trace.endContent)
  expect(yText(a.doc)).toBe(trace.endContent)
  const stats = a.doc.appendStats
  const updateCount = a.doc.updateCount
  const snapshots = a.doc.autobase.view.snapshots.length
  figures['edits'] = edits
  figures['replay (all edits typed)'] = ms(typed - t0)
  figures['replay (all durable)'] = ms(t1 - t0)
  figures['blocks appended'] = stats.blocks
  figures['local updates in them'] = stats.updates
  figures['accepted updates (view)'] = updateCount
  figures['snapshots'] = snapshots
  figures['log bytes'] = a.doc.autobase.local.byteLength
  expect(stats.unsaved).toBe(0)
  expect(updateCount).toBe(stats.blocks + (trace.startContent ? 1 : 0))
  // Enough blocks that snapshots exist, so reopening and joining can use them.
  expect(updateCount).toBeGreaterThan(SNAPSHOT_INTERVAL)
  expect(snapshots).toBe(Math.floor(updateCount / SNAPSHOT_INTERVAL))

  // Reopen: the newest snapshot plus the updates after it, not the whole history.
  const t2 = performance.now()
  a = await a.reopen()
  const t3 = performance.now()
  expect(a.doc.text.toString()).toBe(trace.endContent)
  const lastSnapshot = decodeSnapshotEntry((await a.doc.autobase.view.snapshots.get(a.doc.autobase.view.snapshots.length - 1))!)
  figures['reopen'] = ms(t3 - t2)
  figures['updates read on reopen (after the snapshot)'] = a.doc.updateCount - lastSnapshot.updates
  expect(a.doc.updateCount - lastSnapshot.updates).toBeLessThan(SNAPSHOT_INTERVAL)

  // A fresh peer joins and reads the snapshot and the tail, not every update.
  const t4 = performance.now()
  const fresh = await joinDoc(a.doc)
  connect(a.doc, fresh.doc)
  await eventually(async () => {
    await fresh.doc.update()
    return fresh.doc.text.length === trace.endContent.length
  }, 'the fresh peer to get the text', 60_000)
  const t5 = performance.now()
  expect(fresh.doc.text.toString()).toBe(trace.endContent)
  expect(yText(fresh.doc)).toBe(trace.endContent)
  let local = 0
  const updates = fresh.doc.autobase.view.updates
  for (let i = 0; i < updates.length; i++) if (await updates.has(i)) local++
  figures['join (fresh peer has the text)'] = ms(t5 - t4)
  figures['update entries the fresh peer holds'] = `${local} of ${updates.length}`
  expect(updates.length).toBe(updateCount)
  expect(local).toBeLessThan(updates.length)

  // It keeps working: the joiner reads on, the author edits on.
  a.doc.edit([{ from: 0, insert: '% replayed\n' }])
  await a.doc.flush()
  await eventually(async () => {
    await fresh.doc.update()
    return fresh.doc.text.toString() === a.doc.text.toString()
  }, 'the fresh peer to follow a new edit')

  console.log(['automerge-paper trace figures:', ...Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`)].join('\n'))
})
