// @ts-check
// W2: keystroke at device A -> applied at device B's daemon.
//
// Every device is a separate process (bench/w2-device.mjs): the real daemon
// (storage root, network, presence, page hub, local server) on a loopback
// HyperDHT testnet (127.0.0.1 only, LAN discovery off). Device A owns a
// document the others are writers of; A types, the others watch.
//
// Measured: from the moment A's daemon calls doc.edit() for a keystroke to
// the moment B's daemon emits the 'change' event (origin remote) that shows
// it, i.e. B's text includes it. Both instants are process.hrtime.bigint()
// (CLOCK_MONOTONIC, shared by every process on Linux; checked at start by
// bracketing each device's clock between two readings of the bench's). The
// keystroke enters A through doc.edit() in A's daemon, not through a browser
// tab's WebSocket (the page's own hop is not in this number).
//
// Cadences: the recorded cadence of concurrent/clownschool (real per-keystroke
// timestamps of 1 s resolution; the keystrokes of each second spread evenly
// over it; content and positions from clownschool_flat, typed into the text
// the trace had reached) and a steady 30 chars/s. Then the same with 8
// devices: one typist, 7 watchers; every (keystroke, watcher) pair is a sample.
//
// Baseline, same devices, same run, same connections: a bare Autobase in each
// device's Corestore (one view core that gets every block as is, no engine)
// with the same members; A appends a small block at 30 blocks/s; latency from
// append() at A to the 'update' event at B whose view holds the block.
//
// Baseline users would pick instead, same run, right after each device
// count's swarmpad sessions (its devices stopped): Yjs synced through a
// y-websocket relay on 127.0.0.1 (bench/w2-yws.mjs), as many clients as
// devices, each a process of its own, one relay process; the same keystrokes
// on the same schedules, timed the same way (keystroke -> applied at each other
// client). Rows W2-ywebsocket-*; W2-*-vs-ywebsocket-p50 compares swarmpad's
// p50 with the relay's (target: no worse).
//
// Reported: p50 and p99 over all samples (named in each row). --reps does not
// apply: the sample counts are fixed (KEYS below) so W2 takes about a minute.
//
// W7 runs on W2's two devices after W2: the next keystrokes of the trace at
// 30 chars/s typed through editor clients (editorSession below). Its
// baseline is W2-adjacent: right after W7, on the same devices, the editors
// closed, the next keystrokes of the trace at 30 chars/s typed into A's
// daemon and timed at B's daemon exactly as W2's 30 chars/s session is. The
// session order matters here: later W2 sessions on the same devices measured
// 1.4-5 ms slower at the median than earlier ones, so W7 is compared with the
// W2 session next to it, not with W2's 30 chars/s row two sessions earlier
// (that row stays as it was). The editors are closed first so that B's
// daemon does no editor work in the baseline: W7 is not made easier.
import createTestnet from 'hyperdht/testnet.js'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { loadTrace, quantile, tempDir, row, waitFor } from './lib.mjs'
import { Child } from './child.mjs'
import { applyChanges } from './keystrokes.mjs'
import { measureRelay } from './w2-yws.mjs'

const DEVICE = fileURLToPath(new URL('./w2-device.mjs', import.meta.url))
/** Keystrokes per cadence for 2 and for 8 devices. */
export const KEYS = { 2: 300, 8: 150 }
/** Where in clownschool_flat the typed window starts (about 25 s of typing for 300 keystrokes). */
const WINDOW_START = 10_000

/** A device: a daemon process (w2-device.mjs) on the loopback testnet. */
class Device extends Child {
  /** @param {string} home @param {string} bootstrap */
  constructor (home, bootstrap) {
    super(DEVICE, [home, bootstrap], { label: 'W2 device', env: { ...process.env, SWARMPAD_LAN: '0', SWARMPAD_BOOTSTRAP: bootstrap } })
    this.home = home
  }

  stop () {
    return super.stop({ killAfterMs: 15_000, awaitStop: true })
  }
}


/**
 * The keystrokes of clownschool_flat from `start` (each txn: its patches as
 * [from, to, insert], applied one after another), the text before them, and
 * when each is typed: the recorded seconds, each second's keystrokes spread
 * evenly over it (the timestamps are per second and, the trace interleaving
 * three typists, not monotonic: the sorted times are given to the keystrokes
 * in order, which keeps the number typed in every second).
 * @param {any} flat @param {number} start @param {number} n
 */
function clownschoolWindow (flat, start, n) {
  let text = ''
  for (let i = 0; i < start; i++) text = applyChanges(text, flat.txns[i].patches.map(([p, d, ins]) => [p, p + d, ins]))
  const txns = flat.txns.slice(start, start + n)
  const seconds = txns.map((t) => Date.parse(t.time) / 1000).sort((a, b) => a - b)
  /** @type {Map<number, number>} */
  const perSecond = new Map()
  for (const s of seconds) perSecond.set(s, (perSecond.get(s) ?? 0) + 1)
  const times = []
  for (const [s, count] of [...perSecond].sort((a, b) => a[0] - b[0])) for (let j = 0; j < count; j++) times.push(s + j / count)
  const keystrokes = txns.map((t) => t.patches.map(([p, d, ins]) => /** @type {[number, number, string]} */ ([p, p + d, ins])))
  return { initial: text, keystrokes, at: times.map((t) => (t - times[0]) * 1000) }
}

/** Check that every device's hrtime is the bench's clock. @param {Device[]} devices */
async function checkClock (devices) {
  for (const d of devices) {
    const before = process.hrtime.bigint()
    const { hr } = await d.call('clock')
    const after = process.hrtime.bigint()
    const t = BigInt(hr)
    if (t < before || t > after) throw new Error('W2: a device process does not share the bench\'s monotonic clock; latencies across processes would be meaningless')
  }
}

/**
 * One typing session: A types `schedule`; each watcher reports when it showed each keystroke.
 * @returns {Promise<number[]>} latencies in ms, one per (keystroke, watcher)
 */
async function session (devices, mode, initial, keystrokes, at) {
  const [a, ...watchers] = devices
  for (const w of watchers) await w.call('record')
  const schedule = keystrokes.map((changes, i) => ({ at: at[i], changes }))
  const { times } = await a.call('type', { schedule, mode })
  if (mode === 'raw') {
    const want = (await a.call('raw-update')).length
    await waitFor(async () => {
      for (const w of watchers) if ((await w.call('raw-update')).length < want) return false
      return true
    }, 'every watcher to show every raw block', 'W2')
  } else {
    let final = initial
    for (const k of keystrokes) final = applyChanges(final, k)
    await waitFor(async () => {
      for (const w of watchers) if ((await w.call('status')).text !== final) return false
      return true
    }, 'every watcher to show every keystroke', 'W2')
  }
  const samples = []
  for (const w of watchers) {
    const r = await w.call('results', { mode, initial, keystrokes })
    const arrived = r.arrived
    for (let i = 0; i < keystrokes.length; i++) {
      if (arrived[i] === null || arrived[i] === undefined) throw new Error(`W2: keystroke ${i} was never seen as such at a watcher (${r.unmatched} unmatched changes of ${r.changes})`)
      samples.push(Number(BigInt(arrived[i]) - BigInt(times[i])) / 1e6)
    }
  }
  return samples
}

/**
 * W7: the same keystrokes through editor clients: A's editor sends each one
 * to its `swarmpad client` (Teamtype's protocol over stdio, LSP framing),
 * B's editor receives the `edit` notification from its own. Each editor is a
 * process of its own, as Neovim is (w2-device.mjs --editor). Measured from
 * the keystroke at A's editor (before it makes the edit message) to B's
 * editor having applied the notification that shows it.
 * @returns {Promise<number[]>} latencies in ms
 */
async function editorSession (devices, initial, keystrokes, at) {
  const [a, b] = devices
  for (const d of devices) {
    const { content } = await d.call('editor-start')
    if (content !== initial) throw new Error('W7: an editor did not open on the document\'s text')
  }
  await b.call('editor-record')
  // Only for the split: recording makes B's daemon copy its whole text at
  // every change, on the path W7 times (before its editor session sees it).
  if (process.env.BENCH_DEBUG) for (const d of devices) await d.call('record')
  const schedule = keystrokes.map((changes, i) => ({ at: at[i], changes }))
  const { times } = await a.call('editor-type', { schedule })
  let final = initial
  for (const k of keystrokes) final = applyChanges(final, k)
  await waitFor(async () => (await b.call('editor-status')).content === final && (await a.call('status')).text === final, 'the other editor to show every keystroke', 'W2')
  const r = await b.call('editor-results', { initial, keystrokes })
  if (process.env.BENCH_DEBUG) {
    // Where the time goes: A's editor -> B's daemon (the change applied there), then -> B's editor.
    const d = await b.call('results', { mode: 'doc', initial, keystrokes })
    const toDaemon = keystrokes.map((_, i) => Number(BigInt(d.arrived[i]) - BigInt(times[i])) / 1e6)
    const toEditor = keystrokes.map((_, i) => Number(BigInt(r.arrived[i]) - BigInt(d.arrived[i])) / 1e6)
    // A's own document changes once per non-empty patch: keystroke i is in it at its last patch.
    const local = (await a.call('local-times')).times
    const ends = []
    let n = 0
    for (const k of keystrokes) { n += k.filter(([from, to, insert]) => from !== to || insert !== '').length; ends.push(n - 1) }
    if (local.length === n && ends.every((e) => e >= 0)) {
      const toOwn = keystrokes.map((_, i) => Number(BigInt(local[ends[i]]) - BigInt(times[i])) / 1e6)
      const ownToOther = keystrokes.map((_, i) => Number(BigInt(d.arrived[i]) - BigInt(local[ends[i]])) / 1e6)
      console.error(`W7: editor -> its daemon's document p50 ${quantile(toOwn, 0.5).toFixed(2)} ms, p99 ${quantile(toOwn, 0.99).toFixed(2)} ms; that daemon -> the other daemon p50 ${quantile(ownToOther, 0.5).toFixed(1)} ms, p99 ${quantile(ownToOther, 0.99).toFixed(1)} ms`)
    } else console.error(`W7: ${local.length} local changes for ${n} patches; no split at A`)
    console.error(`W7: editor -> other daemon p50 ${quantile(toDaemon, 0.5).toFixed(1)} ms, p99 ${quantile(toDaemon, 0.99).toFixed(1)} ms; that daemon -> its editor p50 ${quantile(toEditor, 0.5).toFixed(1)} ms, p99 ${quantile(toEditor, 0.99).toFixed(1)} ms`)
  }
  return keystrokes.map((_, i) => {
    if (r.arrived[i] === null) throw new Error(`W7: keystroke ${i} was never seen as such in the other editor (${r.unmatched} unmatched of ${r.changes})`)
    return Number(BigInt(r.arrived[i]) - BigInt(times[i])) / 1e6
  })
}

/**
 * @param {number} n devices
 * @param {{ bootstrap: string, dir: string, flat: any, keys: number }} ctx
 */
async function measure (n, ctx) {
  const devices = []
  try {
    for (let i = 0; i < n; i++) devices.push(new Device(join(ctx.dir, `n${n}-device-${i}`), ctx.bootstrap))
    await Promise.all(devices.map((d) => d.ready))
    await checkClock(devices)
    const [a, ...others] = devices
    const cadence = clownschoolWindow(ctx.flat, WINDOW_START, ctx.keys)
    const { key, encryptionKey } = await a.call('create', { text: cadence.initial })
    const writerKeys = []
    for (const d of others) writerKeys.push((await d.call('join', { key, encryptionKey })).writerKey)
    await a.call('add', { writerKeys })
    await waitFor(async () => {
      for (const d of devices) {
        const s = await d.call('status')
        if (!s.writable || s.text !== cadence.initial || s.peers < n - 1) return false
      }
      return true
    }, `${n} devices to be writable, in sync and connected to each other`, 'W2')
    const raw = await a.call('raw-create')
    const rawWriters = []
    for (const d of others) rawWriters.push((await d.call('raw-join', { key: raw.key })).writerKey)
    await a.call('raw-add', { writerKeys: rawWriters })
    await waitFor(async () => {
      for (const d of others) if (!(await d.call('raw-update')).writable) return false
      return true
    }, 'the baseline Autobase to have every device as a writer', 'W2')

    // Recorded cadence, then 30 chars/s typed on from where it stopped.
    const clown = await session(devices, 'doc', cadence.initial, cadence.keystrokes, cadence.at)
    let text = cadence.initial
    for (const k of cadence.keystrokes) text = applyChanges(text, k)
    const next = ctx.flat.txns.slice(WINDOW_START + ctx.keys, WINDOW_START + 2 * ctx.keys)
      .map((/** @type {any} */ t) => t.patches.map(([p, d, ins]) => [p, p + d, ins]))
    const steady = await session(devices, 'doc', text, next, next.map((_, i) => (i * 1000) / 30))
    // The same two sessions for the y-websocket baseline (typed after these devices stop).
    const sessions = [{ initial: cadence.initial, keystrokes: cadence.keystrokes, at: cadence.at }, { initial: text, keystrokes: next, at: next.map((_, i) => (i * 1000) / 30) }]
    const base = await session(devices, 'raw', '', next.map(() => []), next.map((_, i) => (i * 1000) / 30))
    /** @type {number[] | null} */
    let editor = null
    /** @type {number[] | null} */
    let adjacent = null
    if (n === 2) {
      for (const k of next) text = applyChanges(text, k)
      const after = ctx.flat.txns.slice(WINDOW_START + 2 * ctx.keys, WINDOW_START + 3 * ctx.keys)
        .map((/** @type {any} */ t) => t.patches.map(([p, d, ins]) => [p, p + d, ins]))
      editor = await editorSession(devices, text, after, after.map((_, i) => (i * 1000) / 30))
      // W2-adjacent: W2 at 30 chars/s again, right after W7 (see the top of this file).
      for (const d of devices) await d.call('editor-stop')
      for (const k of after) text = applyChanges(text, k)
      const later = ctx.flat.txns.slice(WINDOW_START + 3 * ctx.keys, WINDOW_START + 4 * ctx.keys)
        .map((/** @type {any} */ t) => t.patches.map(([p, d, ins]) => [p, p + d, ins]))
      adjacent = await session(devices, 'doc', text, later, later.map((_, i) => (i * 1000) / 30))
    }
    return { clown, steady, base, editor, adjacent, sessions, span: cadence.at[cadence.at.length - 1] / 1000 }
  } finally {
    await Promise.all(devices.map((d) => d.stop().catch(() => {})))
  }
}

/** @param {{ reps?: number, counts?: number[], keys?: Record<number, number> }} opts */
export async function run ({ counts = [2, 8], keys = KEYS } = {}) {
  const flat = loadTrace('sequential/clownschool_flat.json.gz')
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const tmp = await tempDir('swarmpad-bench-w2-')
  const rows = []
  try {
    for (const b of testnet.bootstrap) if (b.host !== '127.0.0.1') throw new Error(`testnet node ${b.host} is not loopback`)
    const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
    for (const n of counts) {
      const k = keys[n] ?? 100
      const m = await measure(n, { bootstrap, dir: tmp.dir, flat, keys: k })
      const [relayClown, relaySteady] = await measureRelay(n, m.sessions)
      const watchers = n - 1
      const bp50 = quantile(m.base, 0.5)
      const bp99 = quantile(m.base, 0.99)
      const baseline = `bare Autobase append -> peer view, 30 blocks/s (${m.base.length} samples)`
      for (const [label, xs, relay] of /** @type {Array<[string, number[], number[]]>} */ ([[`clownschool cadence (${k} keystrokes in ${Math.round(m.span)} s)`, m.clown, relayClown], [`30 chars/s (${k} keystrokes)`, m.steady, relaySteady]])) {
        const p50 = quantile(xs, 0.5)
        const p99 = quantile(xs, 0.99)
        const id = `W2-${n}dev-${label.startsWith('30') ? '30cps' : 'cadence'}`
        const what = `keystroke -> applied at ${watchers === 1 ? 'the other daemon' : `each of ${watchers} other daemons`}, ${n} devices, ${label}, ${xs.length} samples`
        rows.push(row({ id: `${id}-p50`, name: `${what}: p50`, value: p50, unit: 'ms', baseline: `${baseline}: p50`, baselineValue: bp50, target: 'p50 <= 5 ms', pass: p50 <= 5, note: `max ${Math.max(...xs).toFixed(1)} ms` }))
        rows.push(row({ id: `${id}-p99`, name: `${what}: p99`, value: p99, unit: 'ms', baseline: `${baseline}: p99`, baselineValue: bp99, target: 'p99 < 16.7 ms', pass: p99 < 16.7 }))
        // The y-websocket relay on the same keystrokes (the baseline itself: reported), then swarmpad against it.
        const yid = `W2-ywebsocket-${n}dev-${label.startsWith('30') ? '30cps' : 'cadence'}`
        const ywhat = `Yjs + y-websocket 2 relay on loopback: keystroke -> applied at ${watchers === 1 ? 'the other client' : `each of ${watchers} other clients`}, ${n} client processes + 1 relay process, W2's keystrokes and ${label}, ${relay.length} samples`
        const y50 = quantile(relay, 0.5)
        for (const [q, v] of /** @type {Array<[string, number]>} */ ([['p50', y50], ['p99', quantile(relay, 0.99)]])) {
          rows.push(row({ id: `${yid}-${q}`, name: `${ywhat}: ${q}`, value: v, unit: 'ms', baseline: null, baselineValue: null, target: 'report (baseline of W2)', pass: true, note: q === 'p50' ? `max ${Math.max(...relay).toFixed(1)} ms` : undefined }))
        }
        rows.push(row({ id: `${id}-vs-ywebsocket-p50`, name: `${id} (swarmpad) p50 against ${yid} (y-websocket relay, same keystrokes, same run) p50`, value: p50, unit: 'ms', baseline: `${yid}: p50`, baselineValue: y50, target: 'ratio <= 1.0 (p50 no worse than the relay\'s)', pass: p50 <= y50 }))
      }
      if (m.editor !== null && m.adjacent !== null) {
        // W2-adjacent: W2 at 30 chars/s again, the session right after W7 (same devices, same run).
        const adj = { p50: quantile(m.adjacent, 0.5), p99: quantile(m.adjacent, 0.99) }
        const adjWhat = `keystroke -> applied at the other daemon, 2 devices, 30 chars/s (${m.adjacent.length} keystrokes), the session right after W7 (editors closed), ${m.adjacent.length} samples`
        for (const q of /** @type {Array<'p50' | 'p99'>} */ (['p50', 'p99'])) {
          rows.push(row({ id: `W2-adjacent-${q}`, name: `${adjWhat}: ${q}`, value: adj[q], unit: 'ms', baseline: `${baseline}: ${q}`, baselineValue: q === 'p50' ? bp50 : bp99, target: q === 'p50' ? 'p50 <= 5 ms' : 'p99 < 16.7 ms', pass: q === 'p50' ? adj.p50 <= 5 : adj.p99 < 16.7, note: q === 'p50' ? `max ${Math.max(...m.adjacent).toFixed(1)} ms` : undefined }))
        }
        // W7 against W2-adjacent (the W2 session next to it; W2's 30 chars/s row ran two sessions earlier).
        const w2 = { p50: quantile(m.steady, 0.5), p99: quantile(m.steady, 0.99) }
        const what = `keystroke sent by an editor client (Teamtype's protocol, \`swarmpad client\`) -> the \`edit\` notification at the other device's editor client, 2 devices, 30 chars/s, ${m.editor.length} samples`
        for (const q of /** @type {Array<'p50' | 'p99'>} */ (['p50', 'p99'])) {
          const v = quantile(m.editor, q === 'p50' ? 0.5 : 0.99)
          rows.push(row({ id: `W7-${q}`, name: `${what}: ${q}`, value: v, unit: 'ms', baseline: `W2-adjacent (keystroke -> other daemon, 30 chars/s, the session right after W7): ${q}`, baselineValue: adj[q], target: `${q} <= W2-adjacent + 2 ms`, pass: v <= adj[q] + 2, note: `W2 30 chars/s row of this run (two sessions before W7): ${w2[q].toFixed(1)} ms` }))
        }
      }
    }
  } finally {
    await testnet.destroy().catch(() => {})
    await tmp.remove()
  }
  return rows
}
