// unit/collab-authority (TESTING.md 5.1): the tab <-> daemon protocol
// converges and never applies an update twice, under random delivery,
// dropped connections, replayed and stale pushes, remote edits from another
// device, and a restart of the authority.
import { describe, expect, test } from 'vitest'
import { Swarmpad } from '../../src/swarmpad.js'
import { CollabHub } from '../../src/server/collab.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { connect, createDoc, eventually } from '../helpers/docs.js'
import { iterations, Prng, seeded } from '../helpers/prng.js'
import { tmpDir } from '../helpers/tmp.js'
import { settle, SimTab } from './collab-harness.js'

interface World {
  dir: string
  sp: Swarmpad
  hub: CollabHub
  doc: SwarmDocument
  tabs: SimTab[]
  peer: SwarmDocument | null
  tokens: Set<string>
}

async function world(opts: { tabs: number; peer: boolean }): Promise<World> {
  const dir = await tmpDir('swarmpad-collab-')
  const sp = new Swarmpad({ home: dir, ackInterval: 0 })
  await sp.ready()
  const { doc } = await sp.create('notes.md')
  const w: World = { dir, sp, hub: new CollabHub(sp), doc, tabs: [], peer: null, tokens: new Set() }
  for (let i = 0; i < opts.tabs; i++) w.tabs.push(new SimTab(() => w.hub, `tab${i}`, 'notes.md'))
  if (opts.peer) {
    const { doc: peer } = await createDoc({ key: doc.key, encryptionKey: doc.encryptionKey })
    await doc.addMember(peer.writerKey, 'writer')
    connect(doc, peer)
    await eventually(async () => {
      await peer.update()
      return peer.writable
    }, 'the peer to become a writer')
    w.peer = peer
  }
  return w
}

async function closeWorld(w: World): Promise<void> {
  for (const t of w.tabs) t.disconnect()
  await w.hub.close()
  await w.sp.close()
}

/// Restart the daemon side: close hub and Swarmpad (pending edits are
/// flushed), open new ones on the same directory. Tabs keep their state.
async function restart(w: World): Promise<void> {
  for (const t of w.tabs) t.disconnect()
  await w.hub.close()
  await w.sp.close()
  w.sp = new Swarmpad({ home: w.dir, ackInterval: 0 })
  await w.sp.ready()
  w.doc = (await w.sp.open('notes.md')).doc
  w.hub = new CollabHub(w.sp)
}

let tokenCounter = 0

/// A random position between tokens (never inside one, so tokens stay whole).
function boundary(text: string, rng: Prng): number {
  const spots = [0]
  for (let i = text.indexOf('⟧'); i !== -1; i = text.indexOf('⟧', i + 1)) spots.push(i + 1)
  return rng.pick(spots)
}

/// One random step. Returns a short description (for the failure report).
function step(w: World, rng: Prng, opts: { deletes: boolean }): string {
  const t = rng.pick(w.tabs)
  const op = rng.weighted({ edit: 6, toServer: 8, toClient: 8, push: 5, replay: 1, reconnect: 0.4, remote: w.peer ? 1 : 0 })
  switch (op) {
    case 'edit': {
      if (!t.client.ready) return 'edit (not ready)'
      const len = t.state.doc.length
      if (opts.deletes && len > 0 && rng.bool(0.3)) {
        const from = rng.int(0, len - 1)
        const to = Math.min(len, from + rng.int(1, 4))
        t.edit({ from, to })
        return `${t.name} delete ${from}-${to}`
      }
      const token = `⟦${t.name}#${tokenCounter++}⟧`
      w.tokens.add(token)
      const at = boundary(t.text, rng)
      t.edit({ from: at, insert: token })
      return `${t.name} insert ${token} at ${at}`
    }
    case 'toServer':
      return `${t.name} -> hub ${t.deliverToServer()}`
    case 'toClient':
      return `hub -> ${t.name} ${t.deliverToClient()}`
    case 'push':
      return `${t.name} push ${t.client.push() !== null}`
    case 'replay': {
      if (t.sentPushes.length === 0) return 'replay (none)'
      const i = rng.int(0, t.sentPushes.length - 1)
      t.replay(i)
      return `${t.name} replay push ${i}`
    }
    case 'reconnect':
      t.connect()
      return `${t.name} reconnect`
    case 'remote': {
      const peer = w.peer!
      const token = `⟦peer#${tokenCounter++}⟧`
      w.tokens.add(token)
      const at = boundary(peer.text.toString(), rng)
      peer.edit([{ from: at, insert: token }])
      return `peer insert ${token} at ${at}`
    }
  }
}

/// Deliver everything until every tab is confirmed and idle.
async function quiesce(w: World): Promise<void> {
  for (const t of w.tabs) if (t.conn === null) t.connect()
  await eventually(
    async () => {
      let moved = true
      for (let round = 0; moved && round < 1000; round++) {
        moved = false
        for (const t of w.tabs) {
          while (t.deliverToServer()) moved = true
          while (t.deliverToClient()) moved = true
          if (t.client.push() !== null) moved = true
        }
      }
      await settle(2)
      if (w.peer) await Promise.all([w.peer.update(), w.doc.update()])
      const text = w.doc.text.toString()
      return (
        w.tabs.every((t) => t.client.ready && t.client.unconfirmed === 0 && t.toServer.length === 0 && t.toClient.length === 0 && t.text === text) &&
        (w.peer === null || w.peer.text.toString() === text)
      )
    },
    'tabs, daemon and peer to converge',
    30_000
  )
}

function checkTokens(w: World, exact: boolean): void {
  const text = w.doc.text.toString()
  for (const token of w.tokens) {
    const count = text.split(token).length - 1
    if (count > 1) throw new Error(`${token} appears ${count} times: an update was applied twice`)
    if (exact && count !== 1) throw new Error(`${token} is missing: an update was lost`)
  }
}

async function run(rng: Prng, opts: { tabs: number; steps: number; deletes: boolean; peer: boolean; restarts: number }): Promise<void> {
  const w = await world({ tabs: opts.tabs, peer: opts.peer })
  const log: string[] = []
  try {
    for (const t of w.tabs) t.connect()
    const restartAt = new Set<number>()
    for (let i = 0; i < opts.restarts; i++) restartAt.add(rng.int(1, opts.steps - 1))
    for (let i = 0; i < opts.steps; i++) {
      if (restartAt.has(i)) {
        log.push('restart')
        await restart(w)
        for (const t of w.tabs) if (rng.bool(0.7)) t.connect()
      }
      log.push(step(w, rng, opts))
      if (i % 8 === 0) await settle()
    }
    await quiesce(w)
    checkTokens(w, !opts.deletes)
    for (const t of w.tabs) expect(t.closed, `${t.name} was closed`).toEqual([])
  } catch (err) {
    for (const t of w.tabs) {
      console.error(
        `${t.name}: ready=${t.client.ready} unconfirmed=${t.client.unconfirmed} queues=${t.toServer.length}/${t.toClient.length} len=${t.text.length} same=${t.text === w.doc.text.toString()}`,
        JSON.stringify(t.client.stats),
        JSON.stringify(t.errors.slice(0, 5)),
        JSON.stringify(t.closed)
      )
    }
    for (const t of w.tabs) {
      const d = w.doc.text.toString()
      let i = 0
      while (i < d.length && d[i] === t.text[i]) i++
      if (i < Math.max(d.length, t.text.length)) console.error(`${t.name} differs at ${i}: daemon ${JSON.stringify(d.slice(i - 10, i + 30))} tab ${JSON.stringify(t.text.slice(i - 10, i + 30))}`)
    }
    if (w.peer) console.error(`peer: len=${w.peer.text.length} same=${w.peer.text.toString() === w.doc.text.toString()}`)
    console.error(`last steps:\n  ${log.slice(-25).join('\n  ')}`)
    console.error(`texts: daemon=${JSON.stringify(w.doc.text.toString().slice(0, 200))}\n${w.tabs.map((t) => `  ${t.name}=${JSON.stringify(t.text.slice(0, 200))}`).join('\n')}`)
    throw err
  } finally {
    await closeWorld(w)
  }
}

describe('a change the document refuses', () => {
  test('is dropped by the tab (and said so); the tab keeps its other changes and converges', async () => {
    const w = await world({ tabs: 2, peer: false })
    try {
      for (const t of w.tabs) t.connect()
      await quiesce(w)
      const [a, b] = w.tabs as [SimTab, SimTab]
      a.edit({ from: 0, insert: 'keep1 ' })
      a.client.push()
      while (a.deliverToServer()) {}
      // A lone surrogate: Yjs cannot hold it, SwarmDocument.edit() refuses it.
      a.edit({ from: a.text.length, insert: '\ud83d' })
      a.edit({ from: a.text.length, insert: ' keep2' })
      b.edit({ from: 0, insert: 'fromB ' })
      await quiesce(w)
      const text = w.doc.text.toString()
      expect(text).toContain('keep1 ')
      expect(text).toContain('fromB ')
      expect(text).toContain(' keep2')
      expect(text).not.toMatch(/[\ud800-\udbff]/)
      expect(a.errors.map((e) => e.code)).toContain('BAD_CHANGE')
      expect(a.client.stats.dropped).toBe(1)
      for (const t of w.tabs) expect(t.text).toBe(text)
    } finally {
      await closeWorld(w)
    }
  })
})

describe('collab authority', () => {
  test('random delivery, inserts only: every token exactly once', async (ctx) => {
    const rng = seeded(ctx)
    for (let i = 0; i < iterations(3); i++) await run(rng.fork(), { tabs: 3, steps: 300, deletes: false, peer: false, restarts: 0 })
  })

  test('random delivery with deletes, replays and reconnects: converges, nothing doubled', async (ctx) => {
    const rng = seeded(ctx)
    for (let i = 0; i < iterations(3); i++) await run(rng.fork(), { tabs: 3, steps: 300, deletes: true, peer: false, restarts: 0 })
  })

  test('remote edits from another device interleave with tabs', async (ctx) => {
    const rng = seeded(ctx)
    for (let i = 0; i < iterations(2); i++) await run(rng.fork(), { tabs: 2, steps: 250, deletes: true, peer: true, restarts: 0 })
  })

  // Regression (found 2026-11-26 by a CI run): a tab that joined twice in a
  // row (a resync after a stale push) reset on the first welcome, pushed its
  // edits under new seqs, then reset again on the second welcome, which
  // predated those pushes, and pushed the same edits a third time: the text
  // held them twice. Welcomes now echo the join's id (a tab ignores answers
  // to earlier joins) and a reset join tells the authority which seqs the tab
  // used before it (never applied from then on).
  test('regression: seed 681884375, two joins in a row around an authority restart, nothing doubled', async () => {
    const rng = new Prng(681884375)
    for (let i = 0; i < 3; i++) await run(rng.fork(), { tabs: 3, steps: 300, deletes: false, peer: false, restarts: 2 })
  })

  test('authority restarts: tabs resend what was not confirmed, nothing lost or doubled', async (ctx) => {
    const rng = seeded(ctx)
    for (let i = 0; i < iterations(3); i++) await run(rng.fork(), { tabs: 3, steps: 300, deletes: false, peer: false, restarts: 2 })
  })
})
