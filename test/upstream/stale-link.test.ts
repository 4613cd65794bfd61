// Upstream reproduction attempt for issue 16 item 3 (the convergence
// simulation's `staleLinks`): "a link that stays up never delivers the log of
// a writer added after it was opened; a fresh link does".
//
// Autobase, Corestore and Hypercore alone (no swarmpad code): an owner `a`, a
// writer `b` and a writer `d` added LATER, each on its own Corestore, linked
// by in-process streams that are opened once, before `d` exists, and never
// replaced (`base.replicate()`, so Autobase's wakeup protocol rides on them as
// in swarmpad). Seeded orders: `d` linked to the owner only or to `b` too,
// `b`'s Autobase paused while `d` is added and writes (so `b` opens `d`'s core
// after the others announced it), a wait before `d` writes, and Hypercore's
// not-downloading linger (20-40 s by default) cut to 150 ms, so channels that
// went idle are closed before `d` writes (every fourth round takes that path,
// and the test checks that b's channel for d's core was really closed). In
// each round `b` must end with `d`'s core at full length and `d`'s blocks in
// its view, on the same streams, within 4 s.
//
// What it documents: every order here delivers (200 of 200 rounds with
// SWARMPAD_STALE_ROUNDS=200, 98 of them after b's channel had closed as idle,
// slowest 94 ms), so this reproduction attempt found no fault upstream. Controls: each round proves `d`'s core did not
// exist on `b` when the links opened and that no stream was opened after
// that; a negative control cuts `b`'s only route and shows that the same
// check reports non-delivery (so the test cannot pass when nothing
// replicates). A failure names the seed and the state of d's core on b.
import { describe, expect, onTestFinished, test } from 'vitest'
import Autobase, { type AutobaseNode, type HostCalls, type ViewStore } from 'autobase'
import Corestore from 'corestore'
import type Hypercore from 'hypercore'
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import { createRequire } from 'node:module'
import { pipeline, type Duplex } from 'node:stream'
import { Prng } from '../helpers/prng.js'
import { tmpDir } from '../helpers/tmp.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ROUNDS = Number(process.env.SWARMPAD_STALE_ROUNDS ?? 12)
const DEADLINE_MS = 4_000

// Hypercore keeps a core "downloading" for 20-40 s after its last session
// went inactive (NOT_DOWNLOADING_SLACK); a channel between two idle sides is
// closed. Rounds with `linger` set shorten it, so that path is taken.
let linger: number | null = null
{
  const Replicator = createRequire(import.meta.url)('hypercore/lib/replicator.js') as {
    prototype: { setDownloading(this: { _notDownloadingLinger: number }, downloading: boolean): void }
  }
  const setDownloading = Replicator.prototype.setDownloading
  Replicator.prototype.setDownloading = function (this: { _notDownloadingLinger: number }, downloading: boolean) {
    if (linger !== null) this._notDownloadingLinger = linger
    setDownloading.call(this, downloading)
  }
}

type View = Hypercore
interface Peer {
  store: Corestore
  base: Autobase<View>
}

const encode = (v: unknown) => b4a.from(JSON.stringify(v))

async function peer(bootstrap: Uint8Array | null): Promise<Peer> {
  const store = new Corestore(await tmpDir())
  const base = new Autobase<View>(store, bootstrap, {
    open: (views: ViewStore) => views.get('view'),
    apply: async (nodes: AutobaseNode[], view: View, host: HostCalls) => {
      for (const node of nodes) {
        if (node.value === null) continue
        const v = JSON.parse(b4a.toString(node.value)) as { add?: string; text?: string }
        if (v.add !== undefined) await host.addWriter(b4a.from(v.add, 'hex'), { indexer: false })
        else await view.append(node.value)
      }
    },
    ackInterval: 0
  })
  onTestFinished(async () => {
    await base.close().catch(() => {})
    await store.close().catch(() => {})
  })
  await base.ready()
  return { store, base }
}

let streamsOpened = 0
function link(x: Peer, y: Peer): () => void {
  const s1: Duplex = x.base.replicate(true)
  const s2: Duplex = y.base.replicate(false)
  streamsOpened++
  pipeline(s1, s2, s1, () => {})
  const stop = () => {
    s1.destroy()
    s2.destroy()
  }
  onTestFinished(stop)
  return stop
}

/// Open replication channels of this store's core for `key` (-1: not open).
function channels(p: Peer, key: Uint8Array): number {
  const cores = (p.store as unknown as { cores: { get(id: string): { replicator: { peers: unknown[] } } | null } }).cores
  return cores.get(b4a.toString(crypto.discoveryKey(key), 'hex'))?.replicator.peers.length ?? -1
}

/// Hypercore's core for `key` in this store, if opened (length) or absent (-1).
function coreLength(p: Peer, key: Uint8Array): number {
  const cores = (p.store as unknown as { cores: { get(id: string): { state: { length: number } } | null } }).cores
  return cores.get(b4a.toString(crypto.discoveryKey(key), 'hex'))?.state.length ?? -1
}

async function viewTexts(p: Peer): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < p.base.view.length; i++) {
    const b = (await p.base.view.get(i)) as Uint8Array
    out.push((JSON.parse(b4a.toString(b)) as { text: string }).text)
  }
  return out
}

async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await sleep(20)
  }
  return false
}

interface Round {
  delivered: boolean
  /// b had d's core open with no channel left when d wrote (the idle path).
  idleClosed: boolean
  ms: number
  detail: string
}

/// One round; `cut`: the negative control (b's only link is cut before d writes);
/// `idleFirst`: b's channels for d's core close as idle before d writes.
async function round(rng: Prng, cut = false, idleFirst = false): Promise<Round> {
  const a = await peer(null)
  const b = await peer(a.base.key)
  const d = await peer(a.base.key)
  const pauseB = !cut && !idleFirst && rng.bool(0.4)
  const dToB = !cut && rng.bool(0.5)
  const idle = !cut && (idleFirst || rng.bool(0.5))
  linger = idle ? 150 : null
  const stopAB = link(a, b)
  link(a, d)
  if (dToB) link(b, d)
  const opened = streamsOpened
  // The writer did not exist on b when its links opened.
  const absentAtLink = coreLength(b, d.base.local.key) === -1
  await a.base.append(encode({ add: b4a.toString(b.base.local.key, 'hex') }))
  if (!(await until(async () => (await b.base.update(), b.base.writable), 5_000))) throw new Error('b never became writable')
  await b.base.append(encode({ text: 'b' }))
  await sleep(rng.int(0, 100))
  if (pauseB) (b.base as unknown as { pause(): void }).pause()
  await a.base.append(encode({ add: b4a.toString(d.base.local.key, 'hex') }))
  if (!(await until(async () => (await d.base.update(), d.base.writable), 5_000))) throw new Error('d never became writable')
  if (idle) await sleep(rng.int(300, 600)) // idle channels close first
  const idleClosed = idle && !pauseB && channels(b, d.base.local.key) === 0
  if (cut) stopAB()
  const n = rng.int(1, 4)
  for (let i = 0; i < n; i++) {
    await d.base.append(encode({ text: `d${i}` }))
    if (rng.bool()) await sleep(rng.int(0, 60))
  }
  if (pauseB) (b.base as unknown as { resume(): void }).resume()
  const t0 = Date.now()
  const want = d.base.local.length
  const delivered = await until(async () => {
    await b.base.update()
    if (coreLength(b, d.base.local.key) < want) return false
    return (await viewTexts(b)).filter((t) => t.startsWith('d')).length === n
  }, cut ? 1_000 : DEADLINE_MS)
  const ms = Date.now() - t0
  expect(absentAtLink, 'the writer was added after the links opened').toBe(true)
  expect(streamsOpened, 'no link was opened or replaced after the writer was added').toBe(opened)
  linger = null
  return { delivered, idleClosed, ms, detail: `pauseB=${pauseB} dToB=${dToB} idle=${idle} d's core on b ${coreLength(b, d.base.local.key)}/${want}` }
}

describe('upstream: a writer added after the links opened reaches every peer over them', () => {
  test('negative control: with b cut off, the check reports non-delivery', async () => {
    const r = await round(new Prng(7), true)
    expect(r.delivered, r.detail).toBe(false)
  }, 30_000)

  test(`seeded orders (${ROUNDS} rounds): delivered on the long-lived links`, async () => {
    const failures: string[] = []
    const times: number[] = []
    let idleClosed = 0
    for (let i = 0; i < ROUNDS; i++) {
      const seed = 16_300 + i
      const r = await round(new Prng(seed), false, i % 4 === 3)
      times.push(r.ms)
      if (r.idleClosed) idleClosed++
      if (!r.delivered) failures.push(`seed ${seed}: ${r.detail}`)
    }
    console.log(`stale-link upstream: ${ROUNDS - failures.length}/${ROUNDS} delivered (${idleClosed} after b's channel for d's core had closed as idle), slowest ${Math.max(...times)} ms`)
    expect(failures).toEqual([])
    // The idle path was really taken (b's channel for d's core closed before d wrote).
    expect(idleClosed).toBeGreaterThan(0)
  }, Math.max(120_000, ROUNDS * 3_000))
})
