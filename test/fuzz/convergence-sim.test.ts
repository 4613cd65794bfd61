// Strong eventual consistency of the document layer (TESTING.md 5.1,
// fuzz/convergence-sim), with REAL documents: five SwarmDocuments, each on
// its own Corestore in a temporary directory (real Autobase, real Hypercore
// replication, real append queue, fold and rebuild), replicating over
// in-process streams that the simulation connects and disconnects at random.
//
// Every round: random CodeMirror-style edits (1-4 changes per transaction,
// every insert a ledger token, deletions of whole tokens, some edits made
// against an older version and rebased), random links between the devices
// (so blocks arrive in random orders and over several paths at once:
// duplicates), random pauses, and membership changes: profiles, new devices
// joining as collaborators, and the owner removing a collaborator (which
// stays on as a reader) once the owner has all it wrote. At the end every link is up and every device must
// hold the same text, the same updates and rejections, a Y.Doc equal to its
// text, a text equal to the fold of its own view, and the edit ledger must
// find nothing lost, duplicated, diverged or unexpected. During the run each
// device's text must equal its Y.Doc at every step.
//
// Removing a device while it types is an opt-in test (see the comment there:
// it is known to break). There, what a removal does not promise (the ledger
// marks it `unknown`): the removed device's edits that the owner had not seen
// when it removed it (the removal may be ordered before them), and other
// devices' inserts typed right next to such text (Yjs anchors an insert to
// its neighbours: if those never reach the view, neither does the insert).
//
// Delivery order and duplicates here come from Autobase and Hypercore
// themselves (several links, random connect/disconnect), not from a mock: the
// block-level variant (apply() over in-memory views with arbitrary orders)
// is test/fuzz/linearizer-apply.test.ts.
//
// Adding a REMOVED device back under the same writer key is refused by
// apply() (Autobase would skip what it wrote meanwhile, unknown to it): the
// sim tries it now and then and checks the refusal.
import { describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import { pipeline } from 'node:stream'
import { converge, createDoc, joinDoc, yText, type TestDoc } from '../helpers/docs.js'
import { checkerSelfTest, describeCheck, EditLedger, tokenSpans, tokensOf, tokenEdit, type LedgerOp } from '../helpers/ledger.js'
import type { Prng } from '../helpers/prng.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import type { ChangeSet } from '@codemirror/state'
import { isSwarmpadError } from '../../src/errors.js'
import { recordEdit } from '../helpers/ledger-edit.js'
import { readCases, reportFigures, round, roundSeeds, scaled, sleep, within, type RegressionCase } from './harness.js'

const SUITE = 'convergence-sim'
const START_DEVICES = 5
const MAX_DEVICES = 8

interface Device {
  name: string
  td: TestDoc
  /// Removed by the owner: a reader from then on.
  removed: boolean
}

/// Give a replication stream Autobase's wakeup protocol (src/net/network.ts does it per connection).
function wakeup(doc: SwarmDocument, stream: unknown): void {
  const base = doc.autobase as unknown as { wakeupProtocol?: { addStream(s: unknown): void } }
  base.wakeupProtocol?.addStream(stream)
}

interface Params {
  steps: number
  /// Autobase's wakeup protocol on every link, as in the product (default true).
  wakeup?: boolean
  /// Remove devices while they type (`concurrent`), or only once everything
  /// they wrote has reached the owner and they have stopped (`quiesced`,
  /// the default). See the header for what concurrent removal breaks.
  removals?: 'quiesced' | 'concurrent'
}

const FIGURE_KEYS = ['rejections', 'stalledUpdates', 'staleLinks', 'rounds', 'edits', 'inserts', 'deletes', 'rebased', 'linkChanges', 'removals', 'joins', 'readds', 'profiles', 'failedEdits', 'unknownOps', 'lost', 'duplicated', 'diverged', 'unexpected'] as const
type Figures = Record<(typeof FIGURE_KEYS)[number], number>
const newFigures = (): Figures => Object.fromEntries(FIGURE_KEYS.map((k) => [k, 0])) as Figures

async function simulate(rng: Prng, params: Params, totals: Figures): Promise<void> {
  const ledger = new EditLedger()
  const owner = await createDoc()
  const devices: Device[] = [{ name: 'p0', td: owner, removed: false }]
  // Odd devices stand for another release that words every refusal
  // differently: their views must hold the same bytes (v2 records codes).
  const wording = (i: number) => (i % 2 === 1 ? { word: REWORD } : {})
  for (let i = 1; i < START_DEVICES; i++) devices.push({ name: `p${i}`, td: await joinDoc(owner.doc, wording(i)), removed: false })
  const docs = () => devices.map((d) => d.td.doc)
  const links = new Map<string, () => void>()
  const linkKey = (i: number, j: number) => (i < j ? `${i}-${j}` : `${j}-${i}`)
  const streamErrors = new Map<string, number>()
  const setLink = (i: number, j: number, up: boolean) => {
    const k = linkKey(i, j)
    const stop = links.get(k)
    if (up && stop === undefined) {
      // A link that breaks by itself (a stream error) counts as down, so the heal brings it back.
      let closed = false
      const s1 = devices[i]!.td.doc.replicate(true)
      const s2 = devices[j]!.td.doc.replicate(false)
      // As the network layer does on every connection: Autobase's wakeup
      // protocol tells the peer which writers have new blocks.
      if (params.wakeup !== false) {
        wakeup(devices[i]!.td.doc, s1)
        wakeup(devices[j]!.td.doc, s2)
      }
      const stopThis = () => {
        if (closed) return
        closed = true
        s1.destroy()
        s2.destroy()
      }
      pipeline(s1, s2, s1, (err) => {
        if (err && !closed) {
          const m = err.message.slice(0, 60)
          streamErrors.set(m, (streamErrors.get(m) ?? 0) + 1)
        }
        if (links.get(k) === stopThis) links.delete(k)
      })
      onTestFinished(stopThis)
      links.set(k, stopThis)
    } else if (!up && stop !== undefined) {
      stop()
      links.delete(k)
    }
  }
  const f = newFigures()
  const t0 = Date.now()
  const events: string[] = []
  const note = (e: string) => events.push(`${Date.now() - t0}ms ${e}`)
  const recent: string[] = []
  const watch = (d: Device) => d.td.doc.on('change', (c: { version: number; origin: string }) => {
    recent.push(`${d.name} v${c.version} ${c.origin}`)
    if (recent.length > 40) recent.splice(0, 20)
  })
  devices.forEach(watch)

  // Everyone connected to the owner; the owner adds the collaborators.
  for (let i = 1; i < devices.length; i++) setLink(0, i, true)
  for (const d of devices.slice(1)) await owner.doc.addMember(d.td.doc.writerKey, 'writer')

  /// Tokens whose text may never reach the view (see the header).
  const doubtful = new Set<string>()
  /// Versions each device saw a little while ago (edits against them are rebased).
  const oldVersions = new Map<number, { version: number; text: string }>()

  /// The tokens an edit's inserted text may hang on: Yjs anchors an insert
  /// to the characters just before and after it, and a device's run is
  /// filler (<= 3) + token + filler (<= 6), maybe with others' text inside;
  /// so every token within a generous window of either neighbour counts.
  const neighbours = new Map<number, string[]>()
  const neighbourTokens = (text: string, changes: ChangeSet, own: readonly string[]): string[] => {
    const spans = tokenSpans(text)
    const out = new Set<string>()
    changes.iterChanges((_fa, _ta, fromB, toB, inserted) => {
      if (inserted.length === 0) return
      for (const [s, e] of spans) {
        if ((fromB - 1 >= s - 8 && fromB - 1 < e + 12) || (toB >= s - 8 && toB < e + 12)) out.add(text.slice(s, e))
      }
    })
    for (const t of own) out.delete(t)
    return [...out]
  }
  /// Ops typed next to doubtful text are doubtful too (and so is their text).
  const spreadDoubt = () => {
    for (let changed = true; changed; ) {
      changed = false
      for (const op of ledger.ops) {
        if (op.status === 'failed' || op.inserts.every((t) => doubtful.has(t))) continue
        if ((neighbours.get(op.id) ?? []).some((t) => doubtful.has(t))) {
          ledger.unknown(op, 'typed next to text that may never reach the view')
          for (const t of op.inserts) doubtful.add(t)
          changed = true
        }
      }
    }
  }

  const makeEdit = (i: number) => {
    const dev = devices[i]!
    const doc = dev.td.doc
    if (!doc.writable || (dev.removed && params.removals !== 'concurrent')) return
    let base = doc.version
    let text = doc.text.toString()
    const old = oldVersions.get(i)
    if (old !== undefined && rng.bool(0.15) && old.version >= doc.version - 50) {
      base = old.version
      text = old.text
    }
    const e = tokenEdit(rng, text, () => ledger.token(dev.name))
    if (e.changes.length === 0) return
    const op: LedgerOp = ledger.invoke(dev.name, e.inserts, e.deletes)
    if (dev.removed) {
      ledger.unknown(op, 'its device was being removed')
      for (const t of e.inserts) doubtful.add(t)
    }
    f.edits++
    f.inserts += e.inserts.length
    f.deletes += e.deletes.length
    if (base !== doc.version) f.rebased++
    // Refused at once (this device was removed, or the version is too old): nothing changed.
    const r = recordEdit(ledger, op, () => doc.edit(e.changes, base), () => f.failedEdits++)
    if (r !== null) {
      neighbours.set(op.id, neighbourTokens(doc.text.toString(), r.changes, e.inserts))
      if (doubtful.size > 0) spreadDoubt()
    }
    if (rng.bool(0.2)) oldVersions.set(i, { version: doc.version, text: doc.text.toString() })
  }

  const removeOne = async () => {
    const candidates = devices.map((_, i) => i).filter((i) => i > 0 && !devices[i]!.removed)
    if (candidates.length === 0) return
    const i = candidates[rng.int(0, candidates.length - 1)]!
    const x = devices[i]!
    if (params.removals !== 'concurrent') {
      // x stops typing; the owner gets everything x wrote, then removes it.
      x.removed = true
      setLink(0, i, true)
      await within(x.td.doc.flush(), 30_000, 'the removed device to flush')
      const local = x.td.doc.autobase.local.length
      const system = () => owner.doc.autobase.system as unknown as { get(key: Uint8Array): Promise<{ length: number } | null> } | null
      const end = Date.now() + 30_000
      for (;;) {
        await owner.doc.update()
        const info = await system()?.get(x.td.doc.writerKey)
        if (info !== null && info !== undefined && info.length >= local) break
        if (Date.now() > end) throw new Error(`the owner did not get ${x.name}'s ${local} blocks`)
        await sleep(20)
      }
    }
    if (params.removals === 'concurrent') {
      // What the owner has not seen of x is not promised: the removal may be
      // ordered before it. (Edits whose tokens the owner shows stay promised.)
      const seen = new Set(tokensOf(owner.doc.text.toString()))
      for (const op of ledger.ops) {
        if (op.process !== x.name || op.status === 'failed') continue
        if (op.inserts.length === 0 || !op.inserts.some((t) => seen.has(t))) {
          ledger.unknown(op, 'not seen by the owner when it removed the device')
          for (const t of op.inserts) doubtful.add(t)
        }
      }
      spreadDoubt()
    }
    x.removed = true
    f.removals++
    note(`remove ${x.name}`)
    await owner.doc.removeMember(x.td.doc.writerKey)
  }

  const joinOne = async () => {
    if (devices.length >= MAX_DEVICES) return
    const d: Device = { name: `p${devices.length}`, td: await joinDoc(owner.doc, wording(devices.length)), removed: false }
    devices.push(d)
    watch(d)
    setLink(0, devices.length - 1, true)
    await owner.doc.addMember(d.td.doc.writerKey, 'writer')
    f.joins++
    note(`join ${d.name}`)
  }

  /// Adding a removed device back under its old writer key is refused (a
  /// device invited again gets a new key): check it, on the owner and then
  /// in every device's rejections (compared at the end).
  const readdOne = async () => {
    const list = devices.filter((d) => d.removed)
    if (list.length === 0) return
    const x = rng.pick(list)
    let refused = false
    try {
      await owner.doc.addMember(x.td.doc.writerKey, 'writer')
    } catch (err) {
      refused = isSwarmpadError(err) && /cannot be added back/.test(err.message)
      if (!refused) throw err
    }
    if (!refused) throw new Error(`re-adding removed ${x.name} was accepted`)
    f.readds++
    note(`readd ${x.name} refused`)
  }




  const checkTexts = (step: number, action: string) => {
    for (const d of devices) {
      const y = yText(d.td.doc)
      const t = d.td.doc.text.toString()
      if (y === t) continue
      let k = 0
      while (k < y.length && y[k] === t[k]) k++
      throw new Error(`step ${step} (${action}): ${d.name}'s text differs from its Y.Doc at ${k}: ${JSON.stringify(t.slice(k, k + 20))} vs Y ${JSON.stringify(y.slice(k, k + 20))}; recent: ${recent.slice(-8).join(' | ')}\nYjs items there: ${itemsAround(d.td.doc, k)}`)
    }
  }

  const background: Array<Promise<unknown>> = []
  const weights = { edit: 70, burst: 6, link: 10, pause: 6, update: 4, profile: 1.5, remove: 0.6, join: 1, readd: 1 }
  try {
    for (let step = 0; step < params.steps; step++) {
      const action = rng.weighted(weights)
      switch (action) {
        case 'edit':
          makeEdit(rng.int(0, devices.length - 1))
          break
        case 'burst':
          // Several devices type at once, in the same turn of the event loop.
          for (let k = rng.int(2, 8); k > 0; k--) makeEdit(rng.int(0, devices.length - 1))
          break
        case 'link': {
          const i = rng.int(0, devices.length - 1)
          let j = rng.int(0, devices.length - 2)
          if (j >= i) j++
          setLink(i, j, !links.has(linkKey(i, j)))
          f.linkChanges++
          break
        }
        case 'pause':
          await sleep(rng.int(0, 40))
          break
        case 'update': {
          // Best effort: a device whose view is sparse (after a fast-forward)
          // waits in update() for blocks that no peer it is linked to has.
          const t = Date.now()
          const done = await within(rng.pick(docs()).update(), 5_000, 'update()').then(() => true, () => false)
          if (!done) {
            f.stalledUpdates++
            note(`update() still waiting after ${Date.now() - t} ms`)
          }
          break
        }
        case 'profile': {
          const d = rng.pick(devices.slice(1))
          if (d.td.doc.writable && !d.removed) {
            f.profiles++
            // Best effort too: a device that joined through a fast-forward
            // cannot append until it has the blocks it skipped, and its links
            // may all be down right now.
            const set = d.td.doc.setProfile({ name: `${d.name}-${step}`, color: '#abcdef' }).catch((err: unknown) => {
              if (!isSwarmpadError(err)) throw err
            })
            background.push(set)
            const done = await within(set, 5_000, 'setProfile').then(() => true, () => false)
            if (!done) {
              f.stalledUpdates++
              note(`setProfile on ${d.name} still waiting`)
            }
          }
          break
        }
        case 'remove':
          await within(removeOne(), 30_000, 'removeMember')
          break
        case 'join':
          await within(joinOne(), 30_000, 'join')
          break
        case 'readd':
          await within(readdOne(), 30_000, 'addMember')
          break
      }
      checkTexts(step, action)
      if (step % 10 === 0) await sleep(0)
    }

    // Heal: every link up, every pending edit settled.
    for (let i = 0; i < devices.length; i++) for (let j = i + 1; j < devices.length; j++) setLink(i, j, true)
    await within(Promise.all(docs().map((d) => d.flush())), 60_000, 'flush')
    await within(Promise.all(background), 60_000, 'profiles set during the run')
    // Open issue: now and then a link that stays up never delivers the log of
    // a writer added after the link was opened (one device keeps that
    // writer's core at length 0, every link up for a minute); a fresh link
    // delivers it. Count it, then re-link everything once.
    const stalled = await converge(docs(), 20_000).then(() => false, () => true)
    if (stalled) {
      f.staleLinks++
      note('no convergence in 20 s with every link up: every link replaced')
      for (let i = 0; i < devices.length; i++) {
        for (let j = i + 1; j < devices.length; j++) {
          setLink(i, j, false)
          setLink(i, j, true)
        }
      }
    }
    await converge(docs(), 60_000)
    await within(
      (async () => {
        while (ledger.pending().length > 0) await sleep(20)
      })(),
      30_000,
      'every edit to be confirmed or refused'
    )
    await converge(docs(), 60_000)
  } catch (err) {
    const more = await within(diagnose(devices, ledger), 10_000, 'diagnose').catch((e: unknown) => String(e))
    if (err instanceof Error) err.message = `${err.message}\nevents: ${events.join('; ')}\nstream errors: ${JSON.stringify([...streamErrors])}\n${more}`
    throw err
  }

  // The same state everywhere, and each device's text equal to its Y.Doc and to the fold of its view.
  const text = owner.doc.text.toString()
  const rejections = await rejectionsOf(owner.doc)
  const rejectionBytes = await rejectionBytesOf(owner.doc)
  f.rejections = rejectionBytes.length
  for (const d of devices) {
    const doc = d.td.doc
    expect(doc.text.toString(), `${d.name} text`).toBe(text)
    expect(yText(doc), `${d.name} Y.Doc`).toBe(text)
    expect(await rejectionsOf(doc), `${d.name} rejections`).toEqual(rejections)
    expect(await rejectionBytesOf(doc), `${d.name} rejections view bytes${d.name.match(/[13579]$/) ? ' (another wording)' : ''}`).toEqual(rejectionBytes)
    expect(await foldOf(doc), `${d.name} fold of its view`).toBe(text)
  }
  const r = ledger.check(new Map(devices.map((d) => [d.name, d.td.doc.text.toString()])))
  totals.rounds++
  for (const k of FIGURE_KEYS) totals[k] += f[k]
  totals.unknownOps += r.counts.unknown
  totals.lost += r.lost.length
  totals.duplicated += r.duplicated.length
  totals.diverged += r.diverged.length
  totals.unexpected += r.unexpected.length
  if (!r.ok) {
    const lostOps = [...new Set(r.lost.map((l) => ledger.insertOf(l.token)!))].slice(0, 10).map((op) => `op${op.id} ${op.process} ${op.inserts.join('')} at ${op.invokedAt - t0}ms`)
    throw new Error(`ledger check failed: ${describeCheck(r)}\nrejections: ${rejections.join('; ')}\nlost ops: ${lostOps.join('; ')}\nevents: ${events.join('; ')}`)
  }
  expect(r.counts.ok).toBeGreaterThan(0)
}

/// The Yjs items of a document's text around index `k` (deleted ones too), for failure messages.
function itemsAround(doc: SwarmDocument, k: number): string {
  interface ItemLike { id: { client: number; clock: number }; length: number; deleted: boolean; countable: boolean; origin: { client: number; clock: number } | null; rightOrigin: { client: number; clock: number } | null; content: { str?: string }; right: ItemLike | null }
  const inner = doc as unknown as { ytext: { _start: ItemLike | null } }
  const id = (x: { client: number; clock: number } | null) => (x === null ? '-' : `${String(x.client).slice(0, 4)}:${x.clock}`)
  const out: string[] = []
  let index = 0
  for (let item = inner.ytext._start; item !== null; item = item.right) {
    const len = item.deleted ? 0 : item.length
    if (index + len >= k - 12 && index <= k + 12) {
      out.push(`[${index}${item.deleted ? ' del' : ''} ${id(item.id)}+${item.length} o=${id(item.origin)} r=${id(item.rightOrigin)} ${JSON.stringify(item.content.str ?? '')}]`)
    }
    index += len
    if (index > k + 12 && out.length > 0) break
  }
  return out.join(' ')
}

const REWORD = (w: string) => `in another release's words: ${w.toUpperCase()}`

/// The raw bytes of every entry of a document's rejections view (hex).
async function rejectionBytesOf(doc: SwarmDocument): Promise<string[]> {
  const core = doc.autobase.view.rejections
  const out: string[] = []
  for (let i = 0; i < core.length; i++) {
    const b = await within(core.get(i), 10_000, `rejection ${i}`)
    out.push(b === null ? 'unavailable' : b4a.toString(b, 'hex'))
  }
  return out
}

/// Every rejection of a document's view (waiting for each block, within bounds).
async function rejectionsOf(doc: SwarmDocument): Promise<string[]> {
  const core = doc.autobase.view.rejections
  const out: string[] = []
  const { decodeRejectionEntry } = await import('../../src/doc/entries.js')
  for (let i = 0; i < core.length; i++) {
    const b = await within(core.get(i), 10_000, `rejection ${i}`)
    if (b === null) throw new Error(`rejection ${i} unavailable`)
    const r = decodeRejectionEntry(b, doc.format)
    out.push(`${b4a.toString(b4a.from(r.writer), 'hex').slice(0, 8)}#${r.seq}: ${r.reason}`)
  }
  return out
}

/// The text of a document's view, folded from its newest snapshot and the updates after it.
async function foldOf(doc: SwarmDocument): Promise<string> {
  const { decodeSnapshotEntry, decodeUpdateEntry } = await import('../../src/doc/entries.js')
  const view = doc.autobase.view
  const parts: Uint8Array[] = []
  let from = 0
  if (view.snapshots.length > 0) {
    const b = await within(view.snapshots.get(view.snapshots.length - 1), 10_000, 'snapshot')
    if (b === null) throw new Error('snapshot unavailable')
    const s = decodeSnapshotEntry(b)
    parts.push(s.state)
    from = s.updates
  }
  for (let i = from; i < view.updates.length; i++) {
    const b = await within(view.updates.get(i), 10_000, `update ${i}`)
    if (b === null) throw new Error(`update ${i} unavailable`)
    parts.push(decodeUpdateEntry(b).yjs)
  }
  const fold = new Y.Doc()
  if (parts.length > 0) Y.applyUpdate(fold, Y.mergeUpdates(parts))
  return fold.getText(TEXT_ROOT).toString()
}

/// What each device holds, for the failure message.
async function diagnose(devices: Device[], ledger: EditLedger): Promise<string> {
  const all = devices.map((d) => new Set(tokensOf(d.td.doc.text.toString())))
  const lines: string[] = []
  for (const [i, d] of devices.entries()) {
    const doc = d.td.doc
    const inner = doc as unknown as { ownPending: Map<number, Uint8Array>; ydoc: Y.Doc }
    const only = [...all[i]!].filter((t) => all.some((s, j) => j !== i && !s.has(t)))
    const ops = only.slice(0, 6).map((t) => {
      const op = ledger.insertOf(t)
      return `${t}:${op?.status ?? '?'}${op?.note ? `(${op.note.slice(0, 30)})` : ''}`
    })
    const me = (await doc.membership()).members.find((m) => b4a.equals(m.key, doc.writerKey))
    const own: string[] = []
    const parts: Uint8Array[] = []
    for await (const e of doc.updates()) {
      parts.push(e.yjs)
      if (me === undefined || e.member !== me.n) continue
      const meta = Y.parseUpdateMeta(e.yjs)
      own.push(`${e.seq}:${meta.from.get(doc.clientId) ?? '-'}-${meta.to.get(doc.clientId) ?? '-'}`)
    }
    const fold = new Y.Doc()
    if (parts.length > 0) Y.applyUpdate(fold, Y.mergeUpdates(parts))
    const statuses: Record<string, number> = {}
    for (const op of ledger.ops) {
      if (op.process !== d.name) continue
      const k = `${op.status}${op.note ? ':' + op.note.slice(0, 40) : ''}`
      statuses[k] = (statuses[k] ?? 0) + 1
    }
    const clock = (doc2: Y.Doc) => Y.getState(doc2.store, doc.clientId)
    lines.push(
      `${d.name}: writable ${doc.writable}, member ${me === undefined ? 'never' : me.removed ? 'removed' : 'yes'}, removed here ${d.removed}, log ${doc.autobase.local.length}, ` +
        `own in view [${own.join(',')}], own clock doc ${clock(inner.ydoc)} view ${clock(fold)}, Yjs pending ${inner.ydoc.store.pendingStructs !== null}, ` +
        `ownPending ${inner.ownPending.size}, appendStats ${JSON.stringify(doc.appendStats)}, updates ${doc.updateCount}, rejections ${doc.autobase.view.rejections.length}, ` +
        `text ${doc.text.length} (fold ${fold.getText(TEXT_ROOT).length}); ops ${JSON.stringify(statuses)}; tokens not everywhere: ${only.length} ${ops.join(' ')}`
    )
  }
  // Each device's copy of every member's log (length/contiguous), and what its linearizer took.
  const members = (await devices[0]!.td.doc.membership()).members
  for (const d of devices) {
    const cells: string[] = []
    for (const m of members) {
      const core = d.td.doc.store.get({ key: b4a.from(m.key), active: false })
      await core.ready()
      const owner = devices.find((x) => b4a.equals(x.td.doc.writerKey, m.key))
      cells.push(`${owner?.name ?? '?'}=${core.contiguousLength}/${core.length}`)
      await core.close()
    }
    const sys = d.td.doc.autobase.system as unknown as { get(key: Uint8Array): Promise<{ length: number; isRemoved: boolean } | null> } | null
    const taken: string[] = []
    if (sys) for (const m of members) {
      const info = await sys.get(b4a.from(m.key)).catch(() => null)
      taken.push(`${info ? info.length : '-'}`)
    }
    const v = d.td.doc.autobase.view.updates
    let missing = 0
    for (let i = 0; i < v.length; i++) if (!(await v.has(i))) missing++
    const inner = d.td.doc as unknown as { foldScheduled: boolean; folded: number }
    const base = d.td.doc.autobase as unknown as { length: number; signedLength: number; indexedLength: number }
    lines.push(`${d.name} logs: ${cells.join(' ')}; linearized: ${taken.join(' ')}; view updates ${v.length} (signed ${v.signedLength}, not local ${missing}), folded ${inner.folded}, fold scheduled ${inner.foldScheduled}, base length ${base.length} signed ${base.signedLength} indexed ${base.indexedLength}`)
  }
  lines.push(`rejections (p0): ${(await rejectionsOf(devices[0]!.td.doc).catch((e: unknown) => [String(e)])).join('; ')}`)
  return lines.join('\n')
}

function caseOf(seed: number, params: Params, err: unknown): RegressionCase {
  return {
    suite: SUITE,
    name: `seed-${seed}${params.removals === 'concurrent' ? '-concurrent' : ''}`,
    seed,
    found: new Date().toISOString(),
    error: String(err instanceof Error ? err.message.split('\n')[0] : err),
    data: params
  }
}

describe('convergence simulation: five real documents over in-process streams', () => {
  test('checker self-test: the ledger catches a dropped update, a duplicated token and a diverged peer', () => {
    expect(checkerSelfTest().cases).toBeGreaterThanOrEqual(8)
  })

  test('committed regression cases', async (ctx) => {
    const totals = newFigures()
    for (const c of readCases(SUITE)) {
      const params = c.data as Params
      if (params.removals === 'concurrent' && process.env.SWARMPAD_SIM_CONCURRENT !== '1') continue
      await round(ctx, c.seed, (rng) => simulate(rng, params, totals))
    }
  }, scaled(300_000, 10))

  test('devices converge under random edits, delivery orders, duplicates, disconnects and membership changes', async (ctx) => {
    const totals = newFigures()
    const seeds = roundSeeds(scaled(3, 7))
    const params: Params = { steps: scaled(250, 2) }
    for (const seed of seeds) await round(ctx, seed, (rng) => simulate(rng, params, totals), (err) => caseOf(seed, params, err))
    reportFigures(SUITE, { seeds, steps: params.steps, ...totals })
  }, scaled(300_000, 10))

  // Known to fail (open issues), so opt-in: SWARMPAD_SIM_CONCURRENT=1.
  //
  // Removing a device WHILE it types: Autobase skips the removed writer's
  // blocks that the linearization puts after its removal (they reach apply()
  // neither as accepted nor as rejected). Other devices that typed right next
  // to that text wrote Yjs items whose neighbours now never arrive: those
  // items stay pending in every Y.Doc (their inserts are lost everywhere, the
  // ledger counts them unknown), and worse, the writer's own Yjs clock
  // counts only integrated items, so after a rebuild its next update starts
  // below the clock the view already accepted and apply() refuses it
  // ("does not continue its writer's text"): that innocent device can no
  // longer edit the document at all (seen with seeds 215 and 218 at the time).
  test.skipIf(process.env.SWARMPAD_SIM_CONCURRENT !== '1')('devices removed while they type (SWARMPAD_SIM_CONCURRENT=1)', async (ctx) => {
    const totals = newFigures()
    const seeds = roundSeeds(scaled(3, 7))
    const params: Params = { steps: scaled(250, 2), removals: 'concurrent' }
    for (const seed of seeds) await round(ctx, seed, (rng) => simulate(rng, params, totals), (err) => caseOf(seed, params, err))
    reportFigures(`${SUITE}-concurrent`, { seeds, steps: params.steps, ...totals })
  }, scaled(300_000, 10))
})
