// @ts-check
// W4: the concurrent traces (friendsforever: 2 agents, clownschool: 3) with
// one device per agent, each txn injected through that device's edit() once
// its parents have arrived there; every device must end with endContent.
// Baseline: Yjs, one in-memory Y.Doc per agent, the same schedule.
//
// How each txn sees exactly its parents
// -------------------------------------
// A txn's positions are relative to the document as its agent saw it: the
// causal closure of its parents, nothing more. If a device already held a
// concurrent txn of another agent, the positions would be off. So the
// schedule (concurrent.mjs plan()) delivers to each device only what its next
// txn depends on: before txn i of agent X, for every other agent Y, the txns
// of Y up to the last one in i's closure. (Each agent's txns form a causal
// chain, checked, so that prefix is exactly Y's share of the closure.)
//
// A device holds whatever Autobase has applied from the writer cores it has
// blocks of, so delivering "Y up to txn k" means giving X's Corestore exactly
// the first n blocks of Y's writer core, where block n-1 ends txn k. Plain
// replication cannot do that: X would download all of Y's log (Y may already
// have typed past k: with crossing edits, which are everywhere in these
// traces, no ordering of whole-log syncs works). So no two devices replicate
// directly. Between X and Y sits a courier: a bare Corestore that has opened
// only Y's writer core and downloads from Y only the blocks we ask for
// (Hypercore is sparse). X replicates only with its couriers; Autobase on X
// applies a writer's blocks only while they are present and contiguous, so X
// applies exactly blocks [0, n) of Y. Its next append then names Y's length n
// as a head: the Autobase DAG is the trace's DAG. Over a real connection
// Autobase's wakeup protocol tells X that Y has new blocks; a courier cannot
// speak it, so each delivery ends with the same hint (base.hintWakeup).
//
// Block boundaries. A device batches edits (one Yjs transaction per turn of
// the event loop, one block per append in flight), so txn k of Y and the
// next one could share a block. Txns that end a delivery ("cuts", known from
// the plan) are therefore sealed before Y types on: Y's edits are flushed to
// its log and the log length is recorded. Every device is also sealed before
// anything is delivered to it, so no block of its own written after a
// delivery claims (as an Autobase head) something its txn did not depend on.
// Autobase's own ack blocks (the owner is the indexer) are harmless: a block
// before the seal of txn k depends only on what the device had then, which
// is inside k's closure. Other txns are typed without waiting, as an editor
// would send them.
//
// clientID order. Yjs orders concurrent insertions at the same place by
// clientID, and friendsforever has such a place (offset 3798, ", huh?" and
// " The whole sce..." typed at once): with agent 0's clientID below agent 1's
// every replica ends with endContent, with the opposite order they all end
// with another, equally converged text (checked with in-memory Yjs for every
// order; clownschool's text does not depend on it). A device's clientID is a
// hash of its writer key, so agents are given the devices in clientID order,
// as the Yjs baseline gives agent r the clientID r + 1. On a wrong final text
// the run replays Yjs with the devices' clientIDs and names the first txn
// whose operations differ (concurrent.mjs firstDivergence).
//
// What is timed: from the first step to every device holding the final text
// (after the last txn, every device is given every writer's whole log).
// Opening devices and couriers, membership and the initial sync are not
// timed. Each device runs its own loop over its agent's txns, concurrently,
// all in this process (one thread): the time is the total work of all
// devices, couriers and replication streams plus the waits the dependencies
// impose (a delivery waits for the sender's seal, then two in-process
// replication hops and the receiver's apply). The check before each txn
// compares the device's text length with the Yjs replay's; the end check
// compares every device's text with the expected text.
//
// Debugging: BENCH_DEBUG=1 prints where the devices' time went;
// BENCH_W4_VERIFY=1 compares whole texts (hashes) before every txn;
// BENCH_W4_DIAGNOSE=1 compares every operation with a Yjs replay's.
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream'
import { join } from 'node:path'
import { SwarmDocument } from '../dist/sync/document.js'
import { loadTrace, median, tempDir, row } from './lib.mjs'
import * as Y from 'yjs'
import { analyse, plan, yjsReplay, hash, firstDivergence } from './concurrent.mjs'

export const TRACES = ['concurrent/friendsforever.json.gz', 'concurrent/clownschool.json.gz']
/** A full replay is 25,000 events per trace: at most this many per run (the median is of these). */
export const MAX_REPS = 2

/** @param {any} a @param {any} b */
function pipe (a, b) {
  const s1 = a.replicate(true)
  const s2 = b.replicate(false)
  pipeline(s1, s2, s1, () => {})
  return () => { s1.destroy(); s2.destroy() }
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Wait until `check()` holds, calling `poke()` between tries; fails after `ms` with `what()`.
 * @param {() => boolean} check @param {() => Promise<unknown>} poke @param {() => string} what
 */
async function until (check, poke, what, ms = 30_000) {
  const end = Date.now() + ms
  let delay = 0
  while (!check()) {
    if (Date.now() > end) throw new Error(`W4: timed out waiting for ${what()}`)
    await poke()
    if (check()) return
    await sleep(delay)
    delay = Math.min(20, delay + 1)
  }
}

/**
 * What a device's Autobase holds of each writer (for timeout messages):
 * writer in the linearizer / blocks present / known length, and whether it
 * is fast-forwarding. Reads Autobase internals, for diagnostics only.
 * @param {SwarmDocument} doc @param {SwarmDocument[]} docs
 */
function autobaseState (doc, docs) {
  const base = /** @type {any} */ (doc.autobase)
  const writers = docs.map((d, i) => {
    const w = base.activeWriters.get(d.writerKey)
    const core = w?.core
    return `writer ${i}: ${w ? `${w.length} taken in, ${core?.contiguousLength} present, ${core?.length} known` : 'not active'}`
  })
  return `${writers.join('; ')}; fast-forwarding ${base.fastForwarding !== null || base.fastForwardTo !== null}; system length ${base.core?.length}, signed ${base.core?.signedLength}`
}

/**
 * Replay on real devices, one async loop per device (devices work
 * concurrently, as they would; the waits of one overlap the work of others).
 * `expect` is the Yjs replay (text lengths before each txn).
 * @param {ReturnType<typeof analyse>} a @param {ReturnType<typeof plan>} p
 * @param {{ lengths: Int32Array, hashes?: string[], text: string }} expect
 * @param {number} budgetMs stop (and report how far it got) after this long
 */
async function engineReplay (a, p, expect, budgetMs) {
  const R = a.replicas
  const tmp = await tempDir('swarmpad-bench-w4-')
  /** @type {Array<() => void>} */
  const unpipe = []
  /** @type {any[]} */
  const stores = []
  /** @type {SwarmDocument[]} */
  const docs = []
  /** @type {unknown[]} */
  const errors = []
  try {
    const encryptionKey = randomBytes(32)
    for (let r = 0; r < R; r++) {
      const store = new Corestore(join(tmp.dir, `device-${r}`))
      stores.push(store)
      const doc = new SwarmDocument(store.namespace('w4'), { key: r === 0 ? null : docs[0].key, encryptionKey })
      doc.on('error', (err) => errors.push(err))
      await doc.ready()
      docs.push(doc)
    }
    // Membership, over direct replication; then the devices part.
    for (let r = 1; r < R; r++) await docs[0].addMember(docs[r].writerKey, 'writer')
    const setup = []
    for (let x = 0; x < R; x++) for (let y = x + 1; y < R; y++) setup.push(pipe(docs[x], docs[y]))
    await until(() => docs.every((d) => d.writable), () => Promise.all(docs.map((d) => d.update())), () => 'every device to be writable')
    for (const stop of setup) stop()
    if (docs.some((d) => d.text.length !== 0 || d.updateCount !== 0)) throw new Error('W4: devices do not start empty')
    // Agent r types on the device with the r-th smallest Yjs clientID (see
    // "clientID order" at the top); the owner may be any agent's device.
    docs.sort((x, y) => x.clientId - y.clientId)

    // Couriers: courier[x][y] holds Y's writer core for X.
    /** @type {any[][]} */
    const courier = Array.from({ length: R }, () => new Array(R).fill(null))
    for (let x = 0; x < R; x++) {
      for (let y = 0; y < R; y++) {
        if (x === y) continue
        const store = new Corestore(join(tmp.dir, `courier-${x}-${y}`))
        stores.push(store)
        const core = store.get({ key: docs[y].writerKey })
        await core.ready()
        courier[x][y] = core
        unpipe.push(pipe(store, docs[y]), pipe(store, docs[x]))
      }
    }

    // Seals: for a txn, the length of its device's log right after it and
    // that device's update blocks so far; a promise per cut txn resolves
    // when it is sealed.
    let stopped = false
    /** @type {Map<number, { length: number, updates: number }>} */
    const seals = new Map()
    /** @type {Map<number, { promise: Promise<void>, resolve: () => void }>} */
    const sealWaits = new Map()
    /** @param {number} t */
    const sealed = (t) => {
      if (stopped) return { promise: Promise.resolve(), resolve: () => {} }
      let w = sealWaits.get(t)
      if (w === undefined) {
        let resolve = () => {}
        const promise = new Promise((res) => { resolve = () => res(undefined) })
        w = { promise, resolve }
        sealWaits.set(t, w)
      }
      return w
    }
    /** @param {number} r @param {number} t the device's last txn */
    const seal = async (r, t) => {
      const ts = performance.now()
      await docs[r].flush()
      spent.seal += performance.now() - ts
      if (t >= 0 && !seals.has(t)) {
        seals.set(t, { length: docs[r].autobase.local.length, updates: docs[r].appendStats.blocks })
        sealed(t).resolve()
      }
    }
    /** what each courier has downloaded (blocks [0, n)), and the update blocks of Y that X was given */
    const spent = { seal: 0, sealWait: 0, courier: 0, arrive: 0, settle: 0, edit: 0 }
    const courierLength = Array.from({ length: R }, () => new Array(R).fill(0))
    const deliveredUpdates = Array.from({ length: R }, () => new Array(R).fill(0))
    /** @param {number} to @param {number} from @param {{ length: number, updates: number }} upto */
    const deliver = async (to, from, upto) => {
      const start = courierLength[to][from]
      const ts = performance.now()
      if (upto.length > start) await courier[to][from].download({ start, end: upto.length }).done()
      spent.courier += performance.now() - ts
      courierLength[to][from] = Math.max(start, upto.length)
      deliveredUpdates[to][from] = upto.updates
      // What Autobase's wakeup protocol tells a peer over a real connection
      // (a courier is a bare Corestore and cannot): this writer has new
      // blocks. Without it a writer Autobase closed for being idle is only
      // reopened when another block names it as a head.
      docs[to].autobase.hintWakeup([{ key: docs[from].writerKey, length: upto.length }])
    }
    /** Wait until device x has applied everything delivered to it (x is sealed). @param {number} x */
    const arrived = async (x) => {
      const ts = performance.now()
      try { await arrivedInner(x) } finally { spent.arrive += performance.now() - ts }
    }
    /** @param {number} x */
    const arrivedInner = async (x) => {
      const doc = docs[x]
      const want = doc.appendStats.blocks + deliveredUpdates[x].reduce((s, n) => s + n, 0)
      const base = doc.autobase
      const end = Date.now() + 30_000
      while (doc.updateCount < want) {
        if (Date.now() > end) throw new Error(`W4: device ${x} did not apply ${want} updates (has ${doc.updateCount}; rejections ${base.view.rejections.length}; ${autobaseState(doc, docs)})`)
        await new Promise((resolve) => {
          const timer = setTimeout(done, 20)
          function done () { clearTimeout(timer); base.off('update', done); resolve(undefined) }
          base.on('update', done)
        })
        if (doc.updateCount < want) await doc.update()
      }
      const tq = performance.now()
      await doc.settled()
      spent.settle += performance.now() - tq
      if (doc.updateCount !== want) throw new Error(`W4: device ${x} holds ${doc.updateCount} updates, expected ${want}`)
    }

    const t0 = performance.now()
    const deadline = t0 + budgetMs
    let injected = 0
    let events = 0
    const have = Array.from({ length: R }, () => new Int32Array(R).fill(-1))
    /** Stop every device loop: also those waiting for a txn that will not be sealed now. */
    const stop = () => {
      stopped = true
      for (const w of sealWaits.values()) w.resolve()
    }
    /** @param {number} x */
    const device = async (x) => {
      const doc = docs[x]
      let last = -1
      for (const t of a.byReplica[x]) {
        if (stopped) return
        const need = a.closure[t]
        /** @type {Promise<void>[]} */
        const jobs = []
        for (let y = 0; y < R; y++) {
          if (y === x || need[y] <= have[x][y]) continue
          if (jobs.length === 0) await seal(x, last)
          const k = need[y]
          have[x][y] = k
          const tw = performance.now()
          jobs.push(sealed(k).promise.then(() => { spent.sealWait += performance.now() - tw }).then(() => (stopped ? undefined : deliver(x, y, /** @type {any} */ (seals.get(k))))))
        }
        if (jobs.length > 0) {
          await Promise.all(jobs)
          if (stopped) return
          await arrived(x)
        }
        if (stopped) return
        if (expect.hashes !== undefined && hash(doc.text.toString()) !== expect.hashes[t]) {
          throw new Error(`W4: before txn ${t}, device ${x}'s text (${doc.text.length} characters) is not its parents' closure (${expect.lengths[t]} characters)`)
        }
        if (doc.text.length !== expect.lengths[t]) {
          throw new Error(`W4: before txn ${t}, device ${x} has ${doc.text.length} characters; its parents' closure has ${expect.lengths[t]}`)
        }
        const te = performance.now()
        for (const [pos, del, ins] of a.txns[t].patches) {
          doc.edit([{ from: pos, to: pos + del, insert: ins }])
          events += del + ins.length
        }
        spent.edit += performance.now() - te
        injected++
        last = t
        if (p.cuts.has(t)) await seal(x, t)
        if (performance.now() > deadline) stop()
      }
      await seal(x, last)
    }
    const loops = docs.map((_, x) => device(x))
    // A failed loop stops the others (they would wait for it forever).
    await Promise.all(loops.map((l) => l.catch((err) => { stop(); throw err })))
    if (!stopped) {
      // Everyone gets every writer's whole log.
      const final = docs.map((d) => ({ length: d.autobase.local.length, updates: d.appendStats.blocks }))
      await Promise.all(docs.map(async (_, x) => {
        await Promise.all(docs.map((_, y) => (y === x ? null : deliver(x, y, final[y]))))
        await arrived(x)
      }))
    }
    const ms = performance.now() - t0
    if (process.env.BENCH_DEBUG) console.error('W4 time summed over devices (ms):', Object.entries(spent).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '), `; wall ${ms.toFixed(0)}`)
    if (errors.length > 0) throw new Error(`W4: document error: ${String(errors[0])}`)
    // On a wrong final text, the accepted updates, to find the first txn whose ops differ.
    /** @type {Uint8Array | null} */
    let merged = null
    if (!stopped && (process.env.BENCH_W4_DIAGNOSE || docs.some((d) => d.text.toString() !== expect.text))) {
      const list = []
      for await (const e of docs[0].updates()) list.push(e.yjs)
      merged = Y.mergeUpdates(list)
    }
    return {
      ms,
      merged,
      clientIds: docs.map((d) => d.clientId),
      finished: !stopped,
      injected,
      events,
      texts: docs.map((d) => d.text.toString()),
      // The engine's Y.Text against its text (a private field, for diagnostics only).
      consistent: docs.map((d) => {
        const inner = /** @type {any} */ (d)
        try { inner.flushLocal(); return inner.ytext.toString() === d.text.toString() } catch { return 'unknown' }
      }),
      rejections: docs.map((d) => d.autobase.view.rejections.length),
      blocks: docs.reduce((s, d) => s + d.appendStats.blocks, 0)
    }
  } finally {
    for (const stop of unpipe) stop()
    for (const d of docs) await d.close().catch(() => {})
    for (const s of stores) await s.close().catch(() => {})
    await tmp.remove()
  }
}

/**
 * @param {{ reps: number, traces?: string[], limit?: number, budgetMs?: number }} opts
 * `limit` replays only the first txns of each trace (the harness test); the
 * expected text is then the Yjs replay's (checked against endContent on full
 * traces). A replay that runs past `budgetMs` (default: 3x the time the
 * target allows, so it cannot pass anyway; at least 20 s) is stopped, later
 * repetitions are skipped, and the row reports the rate over what was
 * replayed, as a failure. At most MAX_REPS replays per trace.
 */
export async function run ({ reps: asked, traces = TRACES, limit, budgetMs }) {
  const reps = Math.min(asked, MAX_REPS)
  const rows = []
  for (const file of traces) {
    const trace = loadTrace(file)
    const a = analyse(trace, { limit })
    const p = plan(a)
    const full = a.txns.length === trace.txns.length
    const budget = budgetMs ?? Math.max(3 * a.events, 20_000)
    const ours = []
    const base = []
    let expected = ''
    let blocks = 0
    /** @type {null | { injected: number, events: number, ms: number }} */
    let unfinished = null
    for (let r = 0; r < reps && unfinished === null; r++) {
      // BENCH_W4_VERIFY=1: compare each device's whole text (not only its
      // length) with its parents' closure before every txn (slower).
      const hashes = process.env.BENCH_W4_VERIFY ? new Array(a.txns.length) : undefined
      const y = { ...yjsReplay(a, p, { hashes }), hashes, text: '' }
      expected = y.texts[0]
      y.text = expected
      if (!y.texts.every((t) => t === expected)) throw new Error(`W4 baseline ${file}: the Yjs replicas differ`)
      if (full && expected !== trace.endContent) throw new Error(`W4 baseline ${file}: Yjs text differs from endContent`)
      base.push(y.ms)
      const e = await engineReplay(a, p, y, budget)
      if (!e.finished) {
        unfinished = e
        break
      }
      if (process.env.BENCH_W4_DIAGNOSE && e.merged !== null) {
        const clocks = new Array(a.txns.length)
        const again = yjsReplay(a, p, { clientIds: e.clientIds, keepUpdates: true, clocks })
        console.error('W4 diagnose: first txn whose ops differ:', firstDivergence(a, clocks, e.clientIds, Y.mergeUpdates(/** @type {Uint8Array[][]} */ (again.updates).flat()), e.merged))
      }
      e.texts.forEach((t, d) => {
        if (t === expected) return
        // Which txn first made different ops: replay Yjs with the devices' clientIDs.
        let first = 'unknown'
        if (e.merged !== null) {
          const clocks = new Array(a.txns.length)
          const again = yjsReplay(a, p, { clientIds: e.clientIds, keepUpdates: true, clocks })
          const all = /** @type {Uint8Array[][]} */ (again.updates).flat()
          const f = firstDivergence(a, clocks, e.clientIds, Y.mergeUpdates(all), e.merged)
          if (f !== null) first = `txn ${f.txn} (device ${f.replica}, Yjs clock ${f.clock}: origins ${f.actual}, expected ${f.expected})`
        }
        let at = 0
        while (at < t.length && t[at] === expected[at]) at++
        const others = e.texts.map((o, k) => `device ${k}: ${o === expected ? 'expected' : o === t ? 'same as this one' : 'different'}`).join(', ')
        throw new Error(`W4 ${file}: device ${d} ends with ${t.length} characters that differ from the expected ${expected.length} at ${at}: ${JSON.stringify(t.slice(Math.max(0, at - 20), at + 20))} instead of ${JSON.stringify(expected.slice(Math.max(0, at - 20), at + 20))}; ${others}; Y.Text = text on each device: ${e.consistent.join(', ')}; first txn whose ops differ from a Yjs replay's: ${first}`)
      })
      if (e.rejections.some((n) => n > 0)) throw new Error(`W4 ${file}: blocks were rejected: ${e.rejections.join(', ')}`)
      ours.push(e.ms)
      blocks = e.blocks
    }
    const rate = (/** @type {number} */ events, /** @type {number} */ ms) => events / (ms / 1000)
    const name = file.split('/').pop()?.replace('.json.gz', '')
    const what = `${name}: ${a.replicas} devices, ${a.txns.length} txns (${a.events} events), ${p.deliveries} exact deliveries`
    const target = '>= 1,000 events/s; every device = endContent'
    const baseline = 'Yjs, one Y.Doc per agent, same schedule, in memory'
    if (unfinished !== null) {
      rows.push(row({
        id: `W4-${name}`,
        name: `${what}; STOPPED at the ${Math.round(budget / 1000)} s budget after ${unfinished.injected} txns`,
        value: rate(unfinished.events, unfinished.ms),
        unit: 'events/s',
        baseline,
        baselineValue: rate(a.events, median(base)),
        target,
        pass: false,
        note: `did not finish: ${unfinished.injected} of ${a.txns.length} txns in ${Math.round(unfinished.ms)} ms; final texts not checked`
      }))
      continue
    }
    const value = rate(a.events, median(ours))
    rows.push({
      ...row({
        id: `W4-${name}`,
        name: `${what}, ${blocks} blocks; median of ${ours.length}`,
        value,
        unit: 'events/s',
        baseline,
        baselineValue: rate(a.events, median(base)),
        target,
        pass: value >= 1000
      }),
      checked: `every device's final text = ${full ? 'endContent' : 'the Yjs replay\'s'} (${expected.length} chars)`
    })
  }
  return rows
}
