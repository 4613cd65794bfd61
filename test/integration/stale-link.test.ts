// Issue 16 item 3: two connected devices converge without reconnecting.
// Real documents (SwarmDocument on Corestores in temporary directories)
// linked once by in-process streams that stay up; writers are added LATER
// (after every link opened) and type; every device must hold their text
// within a bounded time, on the same streams. Seeded orders: the newcomer
// linked to the owner only or to more devices, a device that has not yet
// applied the addition while the newcomer types (its Autobase paused), a
// second newcomer added while the first types.
//
// Controls: each round checks that the newcomer's log did not exist on the
// other devices when their links opened and that no stream was opened after
// the links (so "converged" cannot come from a fresh link); a negative control
// cuts a device's only link and shows the same check then reports that the
// newcomer's text never arrived.
import { describe, expect, test } from 'vitest'
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import { connect, createDoc, eventually, joinDoc, type TestDoc } from '../helpers/docs.js'
import { Prng } from '../helpers/prng.js'
import type { SwarmDocument } from '../../src/sync/document.js'

const ROUNDS = Number(process.env.SWARMPAD_STALE_ROUNDS ?? 6)
const CONVERGE_MS = 8_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let streams = 0
function link(x: SwarmDocument, y: SwarmDocument): () => void {
  streams++
  return connect(x, y)
}

/// Length of this device's copy of a writer's log, -1 if it never opened it.
function logLength(doc: SwarmDocument, key: Uint8Array): number {
  const cores = (doc.store as unknown as { cores: { get(id: string): { state: { length: number } } | null } }).cores
  return cores.get(b4a.toString(crypto.discoveryKey(key), 'hex'))?.state.length ?? -1
}

async function writable(doc: SwarmDocument): Promise<void> {
  await eventually(async () => {
    await doc.update()
    return doc.writable
  }, 'the new member to become writable')
}

/// Every device holds every token within `ms`, updating along the way.
async function holdAll(docs: SwarmDocument[], tokens: string[], ms: number): Promise<boolean> {
  return eventually(async () => {
    for (const d of docs) await d.update()
    return docs.every((d) => tokens.every((t) => d.text.toString().includes(t)))
  }, 'every device to hold every token', ms).then(
    () => true,
    () => false
  )
}

function pause(doc: SwarmDocument, paused: boolean): void {
  const base = doc.autobase as unknown as { pause(): void; resume(): void }
  if (paused) base.pause()
  else base.resume()
}

async function round(rng: Prng): Promise<{ ms: number; detail: string }> {
  const a = await createDoc()
  const b = await joinDoc(a.doc)
  const c = await joinDoc(a.doc)
  const d = await joinDoc(a.doc)
  const e = await joinDoc(a.doc)
  const olds: TestDoc[] = [a, b, c]
  const all = [a, b, c, d, e].map((x) => x.doc)
  // Every link opens now, before d and e are members.
  link(a.doc, b.doc)
  link(a.doc, c.doc)
  link(b.doc, c.doc)
  link(a.doc, d.doc)
  link(a.doc, e.doc)
  const dLinks = rng.int(0, 2)
  if (dLinks >= 1) link(b.doc, d.doc)
  if (dLinks >= 2) link(c.doc, e.doc)
  const opened = streams
  for (const x of [d, e]) for (const o of olds) expect(logLength(o.doc, x.doc.writerKey), 'a newcomer log existed before the links').toBe(-1)

  await a.doc.addMember(b.doc.writerKey, 'writer')
  await a.doc.addMember(c.doc.writerKey, 'writer')
  await writable(b.doc)
  await writable(c.doc)
  b.doc.edit([{ from: 0, insert: '<b>' }])
  c.doc.edit([{ from: 0, insert: '<c>' }])
  await sleep(rng.int(0, 80))

  const paused = rng.pick([null, b, c])
  if (paused) pause(paused.doc, true)
  const tokens = ['<b>', '<c>']
  for (const [i, x] of [d, e].entries()) {
    await a.doc.addMember(x.doc.writerKey, 'writer')
    await writable(x.doc)
    for (let k = rng.int(1, 3); k > 0; k--) {
      const t = `<${i === 0 ? 'd' : 'e'}${k}>`
      tokens.push(t)
      x.doc.edit([{ from: 0, insert: t }])
      if (rng.bool()) await sleep(rng.int(0, 60))
    }
    await x.doc.flush()
  }
  if (paused) pause(paused.doc, false)

  const t0 = Date.now()
  const ok = await holdAll(all, tokens, CONVERGE_MS)
  const ms = Date.now() - t0
  const logs = olds.map((o, i) => `${'abc'[i]}: d ${logLength(o.doc, d.doc.writerKey)} e ${logLength(o.doc, e.doc.writerKey)}`).join(', ')
  const detail = `dLinks=${dLinks} paused=${paused === null ? '-' : paused === b ? 'b' : 'c'}; logs ${logs}`
  expect(streams, 'no link was opened or replaced after the writers were added').toBe(opened)
  expect(ok, `every device holds the newcomers' text within ${CONVERGE_MS} ms without relinking (${detail})`).toBe(true)
  // Converged in the usual sense too: same text and counts everywhere.
  const text = a.doc.text.toString()
  for (const x of all) expect(x.text.toString()).toBe(text)
  return { ms, detail }
}

describe('a writer added while the links stay up reaches every device over them', () => {
  test('negative control: a device cut off from every peer is reported as not holding the text', async () => {
    const a = await createDoc()
    const b = await joinDoc(a.doc)
    const d = await joinDoc(a.doc)
    const stopAB = link(a.doc, b.doc)
    link(a.doc, d.doc)
    await a.doc.addMember(b.doc.writerKey, 'writer')
    await writable(b.doc)
    await a.doc.addMember(d.doc.writerKey, 'writer')
    await writable(d.doc)
    stopAB()
    d.doc.edit([{ from: 0, insert: '<d>' }])
    await d.doc.flush()
    expect(await holdAll([a.doc, b.doc], ['<d>'], 1_000)).toBe(false)
    expect(a.doc.text.toString()).toContain('<d>')
  }, 30_000)

  test(`seeded orders (${ROUNDS} rounds): every device converges without relinking`, async () => {
    const times: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const seed = 16_030 + i
      try {
        times.push((await round(new Prng(seed))).ms)
      } catch (err) {
        if (err instanceof Error) err.message = `seed ${seed}: ${err.message}`
        throw err
      }
    }
    console.log(`stale-link: ${ROUNDS} rounds converged without relinking, slowest ${Math.max(...times)} ms`)
  }, Math.max(120_000, ROUNDS * 15_000))
})
