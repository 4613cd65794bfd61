// Autobase 7 alone (no swarmpad code): a peer whose views a fast-forward
// left sparse cannot append until a peer with the skipped view blocks is
// back, when its apply() reads one of them. append() waits for the drain in
// progress, and the drain runs apply(), which waits for the block. swarmpad's
// apply() reads the entries after the newest snapshot, which a fast-forward
// skips; src/sync/fast-forward-gate.ts is the workaround (a device that has
// written to a document never fast-forwards it), the last test here shows
// why it works: without fast-forwards the same peer appends at once.
import { expect, onTestFinished, test } from 'vitest'
import Autobase from 'autobase'
import Corestore from 'corestore'
import { pipeline } from 'node:stream'
import { tmpDir } from '../helpers/tmp.js'
import { gateFastForward } from '../../src/sync/fast-forward-gate.js'

type View = { length: number; get(i: number, opts?: { wait?: boolean }): Promise<unknown>; has(i: number): Promise<boolean>; append(v: unknown): Promise<unknown> }

/// apply(): `{ add }` adds a writer; anything else is appended to the view
/// after reading the entry LOOKBACK places back (as swarmpad's apply() reads
/// the entries since its newest snapshot).
const LOOKBACK = 10

async function makeBase(key: Buffer | null, opts: { fastForward?: boolean } = {}): Promise<Autobase<View>> {
  const store = new Corestore(await tmpDir())
  const base = new Autobase<View>(store, key, {
    valueEncoding: 'json',
    open: (s: { get(name: string): unknown }) => s.get('view') as View,
    apply: async (nodes: Array<{ value: { add?: string } | string }>, view: View, host: { addWriter(k: Buffer, o: { indexer: boolean }): Promise<void> }) => {
      for (const node of nodes) {
        const value = node.value
        if (typeof value === 'object' && value !== null && value.add) {
          await host.addWriter(Buffer.from(value.add, 'hex'), { indexer: false })
          continue
        }
        if (view.length >= LOOKBACK) await view.get(view.length - LOOKBACK)
        await view.append(value)
      }
    },
    ackInterval: 0,
    ...(opts.fastForward === false ? { fastForward: false } : {})
  } as never)
  onTestFinished(async () => {
    await base.close().catch(() => {})
    await store.close().catch(() => {})
  })
  await base.ready()
  return base
}

/// append() with a JSON value (the base's valueEncoding), which the Autobase types do not allow for.
function put(base: Autobase<View>, value: unknown): Promise<unknown> {
  return (base.append as unknown as (v: unknown) => Promise<unknown>).call(base, value)
}

function link(a: Autobase<View>, b: Autobase<View>): () => void {
  const s1 = a.replicate(true)
  const s2 = b.replicate(false)
  pipeline(s1, s2, s1, () => {})
  return () => {
    s1.destroy()
    s2.destroy()
  }
}

/// Resolves with true when `p` settles within `ms`, false otherwise.
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])
}

async function history(a: Autobase<View>, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 10) await put(a, Array.from({ length: 10 }, (_, k) => `${tag}${i + k}`))
}

/// `b` (a writer of `a`'s base) reconnects to `a` after `a` wrote much, and
/// the link is cut as soon as `b` fast-forwards (or applied something).
async function reconnectAndCut(a: Autobase<View>, b: Autobase<View>): Promise<{ fastForwarded: boolean; skipped: boolean }> {
  let fastForwarded = false
  const before = b.view.length
  const cut = link(a, b)
  await new Promise<void>((resolve) => {
    b.once('fast-forward', () => {
      fastForwarded = true
      cut()
      resolve()
    })
    const check = () => (b.view.length > before ? (cut(), resolve()) : setImmediate(check))
    check()
  })
  await new Promise((r) => setTimeout(r, 300))
  const v = b.view
  return { fastForwarded, skipped: v.length >= LOOKBACK && !(await v.has(v.length - LOOKBACK)) }
}

async function writerInSync(opts: { fastForward?: boolean }) {
  const a = await makeBase(null)
  await history(a, 300, 'a')
  const b = await makeBase(a.key, opts)
  await put(a, { add: b.local.key.toString('hex') })
  const cut = link(a, b)
  while (!b.writable || b.view.length < a.view.length) {
    await b.update()
    await new Promise((r) => setTimeout(r, 20))
  }
  await put(b, 'b first')
  cut()
  await history(a, 300, 'later')
  return { a, b }
}

test('a writer that fast-forwarded on reconnecting, and lost the link at once, cannot append until the peer is back', async () => {
  const { a, b } = await writerInSync({})
  const { fastForwarded, skipped } = await reconnectAndCut(a, b)
  // The scenario: it fast-forwarded over blocks it does not hold.
  expect(fastForwarded).toBe(true)
  expect(skipped).toBe(true)
  const appended = put(b, 'b offline')
  expect(await within(appended, 3000)).toBe(false)
  // The positive control: once the peer is back, the append goes through.
  link(a, b)
  expect(await within(appended, 20_000)).toBe(true)
}, 60_000)

test('the same writer with fast-forwards off applies what it got and appends at once', async () => {
  const { a, b } = await writerInSync({ fastForward: false })
  const { fastForwarded, skipped } = await reconnectAndCut(a, b)
  expect(fastForwarded).toBe(false)
  expect(skipped).toBe(false)
  expect(await within(put(b, 'b offline'), 3000)).toBe(true)
  link(a, b)
  await new Promise<void>((resolve) => {
    const check = async () => {
      await b.update()
      await a.update()
      if (a.view.length === b.view.length && a.view.length >= 602) return resolve()
      setTimeout(() => void check(), 50)
    }
    void check()
  })
  expect(await b.view.get(b.view.length - 1)).toBeDefined()
}, 60_000)

test("swarmpad's workaround holds on this Autobase: fast-forwards are allowed until the device first appends", async () => {
  const a = await makeBase(null)
  const b = await makeBase(a.key)
  const fields = (x: unknown) => x as { fastForwardEnabled: boolean }
  gateFastForward(a)
  gateFastForward(b)
  expect(fields(b).fastForwardEnabled).toBe(true)
  await put(a, { add: b.local.key.toString('hex') })
  expect(fields(a).fastForwardEnabled).toBe(false)
  expect(fields(b).fastForwardEnabled).toBe(true)
  link(a, b)
  while (!b.writable) {
    await b.update()
    await new Promise((r) => setTimeout(r, 20))
  }
  await put(b, 'b first')
  expect(fields(b).fastForwardEnabled).toBe(false)
  fields(b).fastForwardEnabled = true // Autobase never sets it again; a write changes nothing
  expect(fields(b).fastForwardEnabled).toBe(false)
}, 30_000)
