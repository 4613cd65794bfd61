// @ts-check
// Builds a swarmpad document that holds egwalker-paper/A2 replayed with its
// branches (W3's second document).
//
// Writers. A2 has 375 agents (git authors) and 1,532 merges. Concurrent
// branches must be distinct writers (distinct Yjs clientIDs): one writer can
// never author two concurrent edits. One writer per agent would be valid (an
// agent's txns do form a causal chain in A2, checked) but means 375 Autobase
// writers, each a device applying the whole history: far too heavy to build
// within the suite. Instead the txn DAG is covered by chains
// (concurrent.mjs chainCover): every chain is causally ordered, so two
// concurrent txns are never on one writer, and the cover has 21 chains,
// which is the width of A2's DAG (its largest set of mutually concurrent
// txns, computed once with a bipartite matching), so no cover with fewer
// writers exists. The joining device thus sees 21 writers and clientIDs
// instead of 375; the concurrency of the edits themselves is A2's.
//
// Content. Each txn's Yjs update is made by the in-memory Yjs replay in
// which every writer's Y.Doc holds exactly the causal closure of the txn's
// parents (concurrent.mjs yjsReplay, with the writers' real clientIDs). A2's
// positions are relative to that state, so they could not go through
// edit() on a device that holds anything more.
//
// Devices. An owner (the only indexer; it holds the document the joiner
// fetches) and one engine Autobase per chain (dist/sync/view.js apply,
// encrypted, each on its own Corestore), added as writers. Each writer
// appends its whole chain offline, one engine update block per Yjs
// transaction (dist/doc/blocks.js encodeBlock, as the append queue writes
// it): a writer never receives anyone else's blocks, so it applies only its
// own. (Live writers that each apply the whole history before their next
// txn cost 21 x 3,210 applies: minutes, far over the suite's budget.)
//
// Order. The owner takes the chains in rounds: a txn's round is one more than
// that of any parent on another chain. Before round r, the owner has exactly
// the txns of earlier rounds: each writer reaches it through a courier that
// has opened only that writer's core and downloads only the blocks asked for
// (up to the last txn of the round). After each round the owner acks, which
// fixes the linearized order of everything it has. So the view, which is what
// every peer applies, holds the txns in a causal order: no update comes
// before one it depends on. In the Autobase DAG itself a writer's blocks name
// only its own chain (it was offline); the owner's acks name everything.
// The build checks the view's order against the trace and that nothing was
// rejected; the owner acks at the end, so the document is indexed and signed
// as a long-lived document would be.
import Autobase from 'autobase'
import Corestore from 'corestore'
import b4a from 'b4a'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream'
import { join } from 'node:path'
import { createApply, openView, closeView } from '../dist/sync/view.js'
import { encodeBlock } from '../dist/doc/blocks.js'
import { clientIdFor } from '../dist/doc/membership.js'
import { MAX_INSERT_CHUNK } from '../dist/limits.js'
import { loadTrace } from './lib.mjs'
import { analyse, plan, yjsReplay, chainCover } from './concurrent.mjs'

/** @param {any} store @param {Buffer | null} key @param {Uint8Array} encryptionKey */
function engineBase (store, key, encryptionKey) {
  /** @type {any} */
  let base = null
  base = new Autobase(store, key, {
    open: openView,
    apply: createApply(() => base.key),
    close: closeView,
    encryptionKey,
    encrypted: true,
    ackInterval: 0
  })
  base.on('error', () => {})
  base.setMaxListeners(0)
  return base
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Resolves once `base` has taken in the first `length` blocks of writer `key`
 * (they are in its linearizer, so its next append names them as heads).
 * Reads Autobase's in-memory writer state; falls back to the system record
 * for a writer Autobase has closed for being idle.
 * @param {any} base @param {Uint8Array} key @param {number} length @param {() => string} what
 */
async function linearized (base, key, length, what) {
  const end = Date.now() + 120_000
  for (;;) {
    const w = base.activeWriters.get(key)
    if (w !== null && w !== undefined) {
      if (w.length >= length) return
    } else {
      const info = await base.system.get(key, { unflushed: true })
      if (info !== null && info.length >= length) return
    }
    if (Date.now() > end) throw new Error(`A2 build: timed out waiting for ${what()}`)
    await new Promise((resolve) => {
      const timer = setTimeout(done, 50)
      function done () { clearTimeout(timer); base.off('update', done); resolve(undefined) }
      base.on('update', done)
    })
  }
}

/** @param {any} a @param {any} b */
function pipe (a, b) {
  const s1 = a.replicate(true)
  const s2 = b.replicate(false)
  pipeline(s1, s2, s1, () => {})
  return () => { s1.destroy(); s2.destroy() }
}

/**
 * Build the document under `dir`. Returns the owner's Corestore (the device a
 * joiner connects to), the document keys, the expected text and counts, and
 * close() for everything. `limit`: only the first txns (for tests).
 * @param {string} dir @param {{ limit?: number, log?: (s: string) => void }} [opts]
 */
export async function buildA2 (dir, opts = {}) {
  const log = opts.log ?? (() => {})
  const trace = loadTrace('egwalker-paper/A2.json.gz')
  const cover = chainCover(trace, opts.limit)
  const K = cover.chains
  const a = analyse(trace, { limit: opts.limit, replicaOf: (i) => cover.chainOf[i], replicas: K })
  const p = plan(a)
  const encryptionKey = randomBytes(32)
  /** @type {any[]} */
  const stores = []
  /** @type {any[]} */
  const bases = []
  /** @type {Array<() => void>} */
  const unpipe = []
  const close = async () => {
    for (const stop of unpipe) stop()
    for (const b of bases) await b.close().catch(() => {})
    for (const s of stores) await s.close().catch(() => {})
  }
  try {
    const t0 = performance.now()
    const ownerStore = new Corestore(join(dir, 'owner'))
    stores.push(ownerStore)
    const owner = engineBase(ownerStore.namespace('a2'), null, encryptionKey)
    await owner.ready()
    bases.push(owner)
    /** @type {any[]} */
    const writerStores = []
    /** @type {any[]} */
    const writers = []
    for (let k = 0; k < K; k++) {
      const store = new Corestore(join(dir, `writer-${k}`))
      stores.push(store)
      writerStores.push(store)
      const base = engineBase(store.namespace('a2'), owner.key, encryptionKey)
      await base.ready()
      bases.push(base)
      writers.push(base)
    }
    // Membership, then every writer goes offline.
    const setup = writers.map((w) => pipe(owner, w))
    for (const w of writers) await owner.append(encodeBlock({ kind: 'add-writer', key: w.local.key, role: 'writer' }))
    for (let t = 0; !writers.every((w) => w.writable); t++) {
      if (t > 3000) throw new Error('A2 build: writers did not become writable')
      await sleep(10)
    }
    for (const stop of setup) stop()

    const clientIds = writers.map((w) => clientIdFor(w.local.key))
    const y = yjsReplay(a, p, { clientIds, keepUpdates: true, maxInsertChunk: MAX_INSERT_CHUNK })
    const expected = y.texts[0]
    if (!y.texts.every((t) => t === expected)) throw new Error('A2 build: the Yjs replicas differ')
    const updates = /** @type {Uint8Array[][]} */ (y.updates)
    log(`A2: ${K} writers ready, Yjs updates made in ${Math.round(performance.now() - t0)} ms`)

    // Each writer appends its chain, offline.
    /** @type {Int32Array} each txn's writer log length after it */
    const sealed = new Int32Array(a.txns.length)
    let blocks = 0
    await Promise.all(writers.map(async (w, k) => {
      for (const t of a.byReplica[k]) {
        for (const yjs of updates[t]) await w.append(encodeBlock({ kind: 'update', time: Date.now(), yjs }))
        blocks += updates[t].length
        sealed[t] = w.local.length
      }
    }))
    log(`A2: chains appended at ${Math.round(performance.now() - t0)} ms`)
    // The writers' Autobases stop; their Corestores keep serving their logs.
    for (let k = 0; k < K; k++) {
      const keep = writerStores[k].get({ key: writers[k].local.key })
      await keep.ready()
      await writers[k].close()
    }

    // Rounds.
    const round = new Int32Array(a.txns.length)
    const lastOfChain = new Int32Array(K).fill(-1)
    let rounds = 0
    for (let t = 0; t < a.txns.length; t++) {
      const k = cover.chainOf[t]
      let r = lastOfChain[k] >= 0 ? round[lastOfChain[k]] : 0
      for (const q of a.txns[t].parents) r = Math.max(r, round[q] + (cover.chainOf[q] !== k ? 1 : 0))
      round[t] = r
      lastOfChain[k] = t
      rounds = Math.max(rounds, r + 1)
    }
    /** upto[r][k]: writer k's log length after its last txn of round <= r */
    const upto = Array.from({ length: rounds }, () => new Int32Array(K).fill(-1))
    for (let t = 0; t < a.txns.length; t++) upto[round[t]][cover.chainOf[t]] = sealed[t]
    const couriers = []
    for (let k = 0; k < K; k++) {
      const store = new Corestore(join(dir, `courier-${k}`))
      stores.push(store)
      const core = store.get({ key: writers[k].local.key })
      await core.ready()
      couriers.push(core)
      unpipe.push(pipe(store, writerStores[k]), pipe(store, ownerStore))
    }
    const have = new Int32Array(K).fill(0)
    for (let r = 0; r < rounds; r++) {
      const jobs = []
      for (let k = 0; k < K; k++) {
        const len = upto[r][k]
        if (len <= have[k]) continue
        const start = have[k]
        have[k] = len
        jobs.push((async () => {
          await couriers[k].download({ start, end: len }).done()
          await linearized(owner, writers[k].local.key, len, () => `the owner to take in writer ${k} up to ${len} (round ${r})`)
        })())
      }
      await Promise.all(jobs)
      await owner.ack()
    }
    for (let tries = 0; owner.signedLength < owner.length; tries++) {
      if (tries > 3000) throw new Error('A2 build: the owner did not index the document')
      if (tries % 10 === 9) await owner.ack()
      await owner.update()
      await sleep(10)
    }
    const view = owner.view
    if (view.rejections.length > 0) throw new Error(`A2 build: ${view.rejections.length} blocks were rejected`)
    if (view.updates.length !== blocks) throw new Error(`A2 build: the owner's view holds ${view.updates.length} updates, expected ${blocks}`)
    // The view's order must be causal: every txn after all its parents.
    const position = new Int32Array(a.txns.length).fill(-1)
    /** txn of (writer k, log index) */
    const txnAt = writers.map(() => new Map())
    for (let t = 0; t < a.txns.length; t++) if (updates[t].length > 0) txnAt[cover.chainOf[t]].set(sealed[t] - 1, t)
    const memberWriter = new Map()
    const { decodeUpdateEntry } = await import('../dist/doc/entries.js')
    const m = await owner.view.members.get(owner.view.members.length - 1)
    const { decodeMembership } = await import('../dist/doc/membership.js')
    for (const member of decodeMembership(m).members) {
      const k = writers.findIndex((w) => b4a.equals(w.local.key, member.key))
      if (k >= 0) memberWriter.set(member.n, k)
    }
    for (let i = 0; i < view.updates.length; i++) {
      const e = decodeUpdateEntry(await view.updates.get(i))
      const t = txnAt[memberWriter.get(e.member)]?.get(e.seq)
      if (t !== undefined) position[t] = i
    }
    for (let t = 0; t < a.txns.length; t++) {
      if (updates[t].length === 0) continue
      for (const q of a.txns[t].parents) {
        if (updates[q].length > 0 && position[q] > position[t]) throw new Error(`A2 build: txn ${t} comes before its parent ${q} in the view`)
      }
    }
    log(`A2: built in ${Math.round(performance.now() - t0)} ms: ${rounds} rounds, ${blocks} update blocks, owner view ${view.updates.length} updates, ${view.snapshots.length} snapshots`)
    for (const stop of unpipe) stop()
    unpipe.length = 0
    return {
      store: ownerStore,
      key: b4a.from(owner.key),
      encryptionKey,
      expected,
      events: a.events,
      txns: a.txns.length,
      writers: K,
      rounds,
      agents: new Set(a.txns.map((t) => t.agent)).size,
      merges: a.txns.filter((t) => t.parents.length > 1).length,
      endContent: opts.limit === undefined ? trace.endContent : null,
      yjsState: y.docs[0],
      close
    }
  } catch (err) {
    await close()
    throw err
  }
}
