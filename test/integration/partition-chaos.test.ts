// Partition chaos (TESTING.md 5.1, integration/partition-chaos): no confirmed
// edit is lost and every device converges under partitions, dropped
// connections and restarts.
//
// Four devices, each a Swarmpad with a Network (src/net: one Hyperswarm per
// device) on one loopback HyperDHT testnet (127.0.0.1 only, no LAN
// discovery), share one document. For a bounded run (60 s in CI) random
// devices make random CodeMirror-style edits whose inserts carry ledger
// tokens, while a nemesis acts every few seconds: random-halves partitions
// (each device's Hyperswarm firewall refuses the other half, their
// connections are destroyed) that heal a few seconds later, dropped
// connections, and graceful restarts of a device on the same storage. Then
// everything heals and quiesces, and the edit ledger checks the final texts:
// lost = 0, duplicated = 0, diverged = 0. Stable latency (confirmation ->
// last moment some live device lacked the insert) is reported as quantiles.
//
// An edit is `ok` when its block is durable in its device's log; an edit a
// restart refused to save is `failed` (and must not show up anywhere); an
// edit whose block was being appended when its device closed is `unknown`
// (SAVE_UNCERTAIN: Autobase may have written it while closing).
import { describe, expect, test } from 'vitest'
import { checkerSelfTest, describeCheck, EditLedger, tokenEdit, type LedgerOp } from '../helpers/ledger.js'
import { Nemesis } from '../helpers/nemesis.js'
import { createDevice, shareDocument, testnet, type Device } from '../helpers/net.js'
import type { Prng } from '../helpers/prng.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import type { Network } from '../../src/net/network.js'
import { recordEdit } from '../helpers/ledger-edit.js'
import { EXTENSIVE, reportFigures, round, roundSeeds, scaled, sleep, within } from '../fuzz/harness.js'

const DEVICES = 4
const NAME = 'chaos'
/// How long the faults go on (then heal and quiesce).
const RUN_MS = scaled(60_000, 5)

interface Node {
  name: string
  device: Device
  doc: SwarmDocument
  up: boolean
}

async function chaos(rng: Prng): Promise<Record<string, unknown>> {
  const net = await testnet(3)
  for (const b of net.bootstrap) expect(b.host).toBe('127.0.0.1')
  const nodes: Node[] = []
  for (let i = 0; i < DEVICES; i++) {
    const device = await createDevice(net, { name: `p${i}`, ackInterval: 50 })
    nodes.push({ name: `p${i}`, device, doc: null as unknown as SwarmDocument, up: true })
  }
  const docs = await shareDocument(nodes[0]!.device, nodes.slice(1).map((n) => n.device), NAME)
  docs.forEach((d, i) => (nodes[i]!.doc = d))
  const networks = () => nodes.filter((n) => n.up && n.device.net !== null).map((n) => n.device.net as Network)
  const nemesis = new Nemesis(networks)
  const ledger = new EditLedger()
  const f = { edits: 0, inserts: 0, deletes: 0, refused: 0, partitions: 0, drops: 0, restarts: 0, nemesisEvents: 0, partitionChecks: 0 }
  const events: string[] = []
  const t0 = Date.now()
  const note = (e: string) => events.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${e}`)

  const edit = (n: Node) => {
    if (!n.up || !n.doc.writable) return
    const e = tokenEdit(rng, n.doc.text.toString(), () => ledger.token(n.name))
    if (e.changes.length === 0) return
    const op: LedgerOp = ledger.invoke(n.name, e.inserts, e.deletes)
    f.edits++
    f.inserts += e.inserts.length
    f.deletes += e.deletes.length
    recordEdit(ledger, op, () => n.doc.edit(e.changes), () => f.refused++)
  }

  const restart = async (n: Node) => {
    n.up = false
    note(`restart ${n.name}`)
    // Graceful: close() saves what was typed (pending edits reach the log or fail).
    // Each step is noted, so a restart that hangs says where.
    await n.device.offline()
    note(`${n.name}: network closed`)
    await n.device.sp.close()
    note(`${n.name}: storage closed`)
    const device = await n.device.reopen()
    const { doc } = await device.sp.open(NAME)
    note(`${n.name}: reopened`)
    n.device = device
    n.doc = doc
    if (device.net !== null) nemesis.apply(device.net)
    n.up = true
    f.restarts++
  }

  // Observe what every live device shows, for stable latencies.
  const observer = setInterval(() => {
    ledger.observe(new Map(nodes.filter((n) => n.up).map((n) => [n.name, n.doc.text.toString()])))
  }, 100)

  let nextNemesis = Date.now() + rng.int(2000, 5000)
  let healAt = Infinity
  let checkAt = Infinity
  try {
    while (Date.now() - t0 < RUN_MS) {
      edit(rng.pick(nodes))
      if (rng.bool(0.1)) for (let k = rng.int(2, 6); k > 0; k--) edit(rng.pick(nodes))
      await sleep(rng.int(20, 120))
      const now = Date.now()
      if (nemesis.partitioned && now >= checkAt) {
        // The partition holds: no connection crosses it.
        const crossing = nemesis.crossings()
        if (crossing.length > 0) throw new Error(`connections cross the partition: ${crossing.join(' ')}`)
        checkAt = Infinity
        f.partitionChecks++
      }
      if (now >= healAt) {
        nemesis.heal()
        healAt = Infinity
        note('heal')
      }
      if (now < nextNemesis) continue
      nextNemesis = now + rng.int(3000, 6000)
      f.nemesisEvents++
      switch (rng.weighted({ partition: 4, drop: 2, restart: 2 })) {
        case 'partition':
          if (!nemesis.partitioned) {
            const groups = nemesis.partitionRandomHalves(rng)
            healAt = now + rng.int(2000, 5000)
            checkAt = now + 1000
            note(`partition ${groups.map((g) => g.map((i) => nodes[i]!.name).join('+')).join(' | ')}`)
          }
          break
        case 'drop':
          if (nemesis.dropConnection(rng)) note('drop a connection')
          break
        case 'restart':
          await within(restart(rng.pick(nodes)), 60_000, 'restart')
          break
      }
    }
    // Heal and quiesce: every device up and connected, every edit settled.
    nemesis.heal()
    note('final heal')
    await within(Promise.all(nodes.map((n) => n.doc.flush())), 60_000, 'flush')
    await within(
      (async () => {
        while (ledger.pending().length > 0) await sleep(50)
      })(),
      60_000,
      'every edit confirmed or refused'
    )
    const converged = async () => {
      const end = Date.now() + 90_000
      while (Date.now() < end) {
        const texts = nodes.map((n) => n.doc.text.toString())
        const counts = nodes.map((n) => n.doc.updateCount)
        if (texts.every((t) => t === texts[0]) && counts.every((c) => c === counts[0])) return
        await sleep(250)
      }
      throw new Error(`no convergence within 90 s: ${nodes.map((n) => `${n.name} ${n.doc.text.length} chars ${n.doc.updateCount} updates, ${n.device.net?.peers.length ?? 0} peers`).join('; ')}`)
    }
    await converged()
    ledger.observe(new Map(nodes.map((n) => [n.name, n.doc.text.toString()])))
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\nevents: ${events.join('; ')}`
    throw err
  } finally {
    clearInterval(observer)
  }

  const r = ledger.check(new Map(nodes.map((n) => [n.name, n.doc.text.toString()])))
  if (!r.ok) throw new Error(`ledger check failed: ${describeCheck(r)}\nevents: ${events.join('; ')}`)
  expect(r.counts.ok).toBeGreaterThan(50)
  expect(r.counts.inserts).toBeGreaterThan(0)
  f.partitions = nemesis.partitions
  f.drops = nemesis.drops
  return {
    ...f,
    runMs: RUN_MS,
    ops: r.counts.ops,
    ok: r.counts.ok,
    failed: r.counts.failed,
    unknown: r.counts.unknown,
    tokensInText: r.counts.tokensInText,
    lost: r.lost.length,
    duplicated: r.duplicated.length,
    diverged: r.diverged.length,
    unexpected: r.unexpected.length,
    stableLatencyMs: r.latency,
    textLength: nodes[0]!.doc.text.length
  }
}

describe('partition chaos: four devices on a loopback testnet', () => {
  test('checker self-test: the ledger catches a dropped update, a duplicated token and a diverged peer', () => {
    expect(checkerSelfTest().cases).toBeGreaterThanOrEqual(8)
  })

  test('partitions, dropped connections and restarts: nothing confirmed is lost, nothing duplicated, every text equal', async (ctx) => {
    const seed = roundSeeds(1, [31])[0]!
    const figures = await round(ctx, seed, (rng) => chaos(rng))
    reportFigures('partition-chaos', { seed, extensive: EXTENSIVE, ...figures })
  }, RUN_MS + 300_000)
})
