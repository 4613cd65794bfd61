// @ts-check
// Helpers for the concurrent traces (concurrent/*, egwalker-paper/A*): the
// causal closure of every txn as a version vector, a delivery plan that gives
// each replica exactly its next txn's causal closure, and the in-memory Yjs
// replay of that plan (W4's baseline; W3 builds the A2 document with it).
//
// Trace format (../shared/traces/README.md): a txn's patches are relative to
// the document as its agent saw it after the txn's `parents` (merged), and
// the patches of one txn apply one after another. Positions count code
// points; none of the traces used here inserts a character above U+FFFF
// (checked: analyse() throws otherwise, so a new trace cannot silently replay
// wrongly).
import * as Y from 'yjs'
import { createHash } from 'node:crypto'

/** @param {string} s */
export const hash = (s) => createHash('sha1').update(s).digest('hex')

/**
 * @typedef {{ parents: number[], agent: number, patches: Array<[number, number, string]> }} Txn
 * @typedef {{ kind: string, endContent: string, numAgents: number, txns: Txn[] }} ConcurrentTrace
 * @typedef {{ type: 'deliver', to: number, from: number, upto: number } | { type: 'inject', txn: number }} Step
 */

/** Events of a txn list: inserted plus deleted characters (the Eg-walker paper's unit). @param {Txn[]} txns */
export function countEvents (txns) {
  let n = 0
  for (const t of txns) for (const [, del, ins] of t.patches) n += del + ins.length
  return n
}

/**
 * Causal structure of the first `limit` txns of a concurrent trace, replicas
 * being given by `replicaOf(txn index)` (default: the txn's agent).
 *
 * Every replica's txns must form a causal chain (each one has the replica's
 * previous txn in its closure): a replica is one Yjs clientID / one writer,
 * which can never produce two concurrent edits. Checked; throws otherwise.
 *
 * `closure[i][r]` is the index of the last txn of replica r in the causal
 * closure of txn i's parents (-1: none). Because each replica's txns form a
 * chain, "the last txn of r in the closure" determines the closure exactly:
 * the closure holds r's txns up to and including that one.
 * @param {ConcurrentTrace} trace
 * @param {{ limit?: number, replicaOf?: (i: number) => number, replicas?: number }} [opts]
 */
export function analyse (trace, opts = {}) {
  const txns = trace.txns.slice(0, opts.limit ?? trace.txns.length)
  const replicaOf = opts.replicaOf ?? ((i) => txns[i].agent)
  const R = opts.replicas ?? trace.numAgents
  for (const t of txns) for (const [, , ins] of t.patches) {
    if (/[\u{10000}-\u{10ffff}]/u.test(ins)) throw new Error('trace inserts characters above U+FFFF: code-point positions would need converting')
  }
  /** @type {Int32Array[]} closure of the parents */
  const closure = new Array(txns.length)
  /** @type {Int32Array[]} closure including the txn itself */
  const after = new Array(txns.length)
  /** @type {number[][]} txn indices of each replica, in order */
  const byReplica = Array.from({ length: R }, () => [])
  /** @type {Int32Array} position of each txn in its replica's sequence */
  const seqOf = new Int32Array(txns.length)
  for (let i = 0; i < txns.length; i++) {
    const v = new Int32Array(R).fill(-1)
    for (const p of txns[i].parents) {
      if (p >= i) throw new Error(`txn ${i} has a parent ${p} that is not earlier`)
      const pv = after[p]
      for (let r = 0; r < R; r++) if (pv[r] > v[r]) v[r] = pv[r]
    }
    const r = replicaOf(i)
    const mine = byReplica[r]
    const prev = mine.length > 0 ? mine[mine.length - 1] : -1
    if (v[r] !== prev) throw new Error(`replica ${r}: txn ${i} does not have the replica's previous txn ${prev} in its closure (replica txns must form a causal chain)`)
    closure[i] = v
    const a = v.slice()
    a[r] = i
    after[i] = a
    seqOf[i] = mine.length
    mine.push(i)
  }
  return { txns, replicaOf, replicas: R, closure, after, byReplica, seqOf, events: countEvents(txns) }
}

/**
 * The schedule: txns in index order (a topological order), each preceded by
 * the deliveries its replica needs. A delivery (to, from, upto) gives replica
 * `to` every txn of replica `from` up to txn `upto`; it is planned only when
 * `to` does not have them yet, and never gives more than the next txn of `to`
 * depends on. So when a txn is injected, its replica holds exactly the causal
 * closure of its parents: its own earlier txns (the chain) and the deliveries,
 * which each end at a txn inside that closure (closure[i]). Nothing else ever
 * reaches a replica before its next txn, so the trace's positions are right.
 *
 * Returns the steps, the txns that end a delivery (`cuts`: a replica's log
 * must have a block boundary right after them), and, per replica, what it
 * holds at the end (`have`), so a caller can finish with a full exchange.
 * @param {ReturnType<typeof analyse>} a
 */
export function plan (a) {
  const R = a.replicas
  /** @type {Step[]} */
  const steps = []
  const cuts = new Set()
  const have = Array.from({ length: R }, () => new Int32Array(R).fill(-1))
  let deliveries = 0
  for (let i = 0; i < a.txns.length; i++) {
    const to = a.replicaOf(i)
    const need = a.closure[i]
    for (let from = 0; from < R; from++) {
      if (from === to || need[from] <= have[to][from]) continue
      steps.push({ type: 'deliver', to, from, upto: need[from] })
      cuts.add(need[from])
      have[to][from] = need[from]
      deliveries++
    }
    steps.push({ type: 'inject', txn: i })
    have[to][to] = i
  }
  return { steps, cuts, deliveries }
}

/**
 * Replay the plan with one in-memory Y.Doc per replica: a delivery applies the
 * captured updates of the delivered txns, an injection applies the txn's
 * patches in one transaction. Ends with every replica given everything.
 * Returns the time taken (ms), the text of every replica at the end, each
 * txn's Yjs update (for builders), and the length of the injecting replica's
 * text right before each txn (a check for replays on the real engine).
 * @param {ReturnType<typeof analyse>} a
 * @param {ReturnType<typeof plan>} p
 * @param {{ clientIds?: number[], keepUpdates?: boolean, maxInsertChunk?: number, hashes?: string[], clocks?: number[] }} [opts]
 * `hashes`: filled with a hash of the injecting replica's text before each txn;
 * `clocks`: with the injecting replica's Yjs clock before each txn (debugging).
 */
export function yjsReplay (a, p, opts = {}) {
  const R = a.replicas
  const docs = Array.from({ length: R }, (_, r) => {
    const d = new Y.Doc({ gc: true })
    d.clientID = opts.clientIds?.[r] ?? r + 1
    return d
  })
  const texts = docs.map((d) => d.getText('text'))
  // Each replica's local transactions are captured to be delivered; remote
  // ones are not (Yjs encodes an update only while someone listens, so the
  // listener is on for local transactions only).
  /** @type {Array<Uint8Array[] | null>} */
  const capturing = docs.map(() => null)
  const listeners = docs.map((_, r) => (/** @type {Uint8Array} */ u) => { capturing[r]?.push(u) })
  /** @type {Array<Uint8Array[]>} each txn's updates (one per transaction) */
  const updates = new Array(a.txns.length)
  const lengths = new Int32Array(a.txns.length)
  const have = Array.from({ length: R }, () => new Int32Array(R).fill(-1))
  // Deliveries to one replica are applied together in index order (a
  // topological order): Yjs then never holds an update back for a missing
  // dependency (its pending-struct path costs quadratic time).
  /** @type {number[]} */
  let batch = []
  let batchTo = -1
  /** @param {number} to @param {number} from @param {number} upto */
  const deliver = (to, from, upto) => {
    if (batchTo !== to) applyBatch()
    batchTo = to
    const list = a.byReplica[from]
    let s = have[to][from] < 0 ? 0 : a.seqOf[have[to][from]] + 1
    for (; s < list.length && list[s] <= upto; s++) batch.push(list[s])
    have[to][from] = upto
  }
  const applyBatch = () => {
    if (batch.length === 0) return
    batch.sort((x, y) => x - y)
    const doc = docs[batchTo]
    for (const i of batch) for (const u of updates[i]) Y.applyUpdate(doc, u)
    batch = []
  }
  const chunk = opts.maxInsertChunk ?? Infinity
  const t0 = performance.now()
  for (const step of p.steps) {
    if (step.type === 'deliver') {
      deliver(step.to, step.from, step.upto)
      continue
    }
    applyBatch()
    const i = step.txn
    const r = a.replicaOf(i)
    const doc = docs[r]
    const text = texts[r]
    lengths[i] = text.length
    if (opts.hashes) opts.hashes[i] = hash(text.toString())
    if (opts.clocks) opts.clocks[i] = Y.getState(doc.store, doc.clientID)
    /** @type {Uint8Array[]} */
    const mine = []
    capturing[r] = mine
    doc.on('update', listeners[r])
    // One transaction per txn, except that inserted text is cut into
    // transactions of at most `chunk` characters, as the engine does (an
    // update must fit in one block).
    let budget = chunk
    let open = false
    /** @type {Array<() => void>} */
    let ops = []
    const flush = () => {
      if (ops.length === 0) return
      const run = ops
      ops = []
      doc.transact(() => { for (const op of run) op() })
    }
    for (const [pos, del, ins] of a.txns[i].patches) {
      if (del > 0) ops.push(() => text.delete(pos, del))
      let at = pos
      let rest = ins
      while (rest.length > 0) {
        if (budget <= 0) { flush(); budget = chunk }
        const piece = rest.length <= budget ? rest : rest.slice(0, budget)
        const where = at
        ops.push(() => text.insert(where, piece))
        at += piece.length
        budget -= piece.length
        rest = rest.slice(piece.length)
      }
      open = true
    }
    if (open) flush()
    doc.off('update', listeners[r])
    capturing[r] = null
    updates[i] = mine
    have[r][r] = i
  }
  // Everyone gets everything.
  for (let to = 0; to < R; to++) {
    for (let from = 0; from < R; from++) {
      if (from === to) continue
      const list = a.byReplica[from]
      if (list.length > 0 && have[to][from] < list[list.length - 1]) deliver(to, from, list[list.length - 1])
    }
    applyBatch()
  }
  const ms = performance.now() - t0
  const result = { ms, texts: texts.map((t) => t.toString()), lengths, updates: opts.keepUpdates ? updates : null, docs }
  return result
}

/**
 * Replica assignment for traces whose agents are too many to give each a
 * writer: a greedy chain cover of the txn DAG. Each txn extends the chain
 * whose last txn is one of its parents (first parent first), else any chain
 * whose last txn is in its closure, else starts a new chain. Every chain is
 * causally ordered, so two concurrent txns are never on the same chain.
 * @param {ConcurrentTrace} trace
 * @param {number} [limit]
 */
export function chainCover (trace, limit) {
  const byAgent = analyse(trace, { limit })
  const txns = byAgent.txns
  /** @type {number[]} */
  const tips = []
  const chainOf = new Int32Array(txns.length)
  for (let i = 0; i < txns.length; i++) {
    let c = -1
    for (const p of txns[i].parents) {
      if (tips[chainOf[p]] === p) { c = chainOf[p]; break }
    }
    if (c < 0) {
      // Agents are chains (analyse checked), so "tip is in i's closure" is
      // closure[i][agent(tip)] >= tip.
      for (let k = 0; k < tips.length; k++) {
        const tip = tips[k]
        if (byAgent.closure[i][txns[tip].agent] >= tip) { c = k; break }
      }
    }
    if (c < 0) { c = tips.length; tips.push(i) } else tips[c] = i
    chainOf[i] = c
  }
  return { chainOf, chains: tips.length }
}

/**
 * Every character a Yjs update authored, by client and clock: its left and
 * right origin (as "client:clock"), to compare the ops two replays made.
 * @param {Uint8Array} update
 * @returns {Map<number, Map<number, string>>}
 */
export function opsOf (update) {
  /** @type {Map<number, Map<number, string>>} */
  const out = new Map()
  const id = (/** @type {any} */ x) => (x ? `${x.client}:${x.clock}` : '-')
  for (const s of /** @type {any[]} */ (Y.decodeUpdate(update).structs)) {
    if (!(s instanceof Y.Item)) continue
    const client = s.id.client
    let m = out.get(client)
    if (!m) out.set(client, (m = new Map()))
    for (let j = 0; j < s.length; j++) {
      const origin = j === 0 ? id(s.origin) : `${client}:${s.id.clock + j - 1}`
      m.set(s.id.clock + j, `${origin} ${id(s.rightOrigin)}`)
    }
  }
  return out
}

/**
 * The first txn whose ops differ between two sets of updates (the same
 * clientIDs): compares the origins of every character, and maps the first
 * differing clock of each client back to its txn with `clocks` (a replay's
 * clock of the injecting replica before each txn).
 * @param {ReturnType<typeof analyse>} a @param {number[]} clocks @param {number[]} clientIds
 * @param {Uint8Array} expected @param {Uint8Array} actual
 */
export function firstDivergence (a, clocks, clientIds, expected, actual) {
  const want = opsOf(expected)
  const got = opsOf(actual)
  let first = null
  for (let r = 0; r < clientIds.length; r++) {
    const w = want.get(clientIds[r]) ?? new Map()
    const g = got.get(clientIds[r]) ?? new Map()
    const clocksSeen = [...new Set([...w.keys(), ...g.keys()])].sort((x, y) => x - y)
    for (const c of clocksSeen) {
      if (w.get(c) === g.get(c)) continue
      // The txn of replica r whose clock range holds c.
      const list = a.byReplica[r]
      let t = list[0]
      for (const i of list) { if (clocks[i] <= c) t = i; else break }
      if (first === null || t < first.txn) first = { txn: t, replica: r, clock: c, expected: w.get(c) ?? 'none', actual: g.get(c) ?? 'none' }
      break
    }
  }
  return first
}
