// The decoders under fuzz, run in a worker thread (bundled by esbuild at test
// time, see bundle.ts): the test thread watches a shared progress counter and
// terminates the worker when one call runs past its time budget (a hang), and
// the worker's heap is capped (an input that makes a decoder allocate without
// bound kills the worker: ERR_WORKER_OUT_OF_MEMORY). Each decoder must give a
// clear verdict (accepted, or a rejection with a reason) and never throw
// anything else; the invariants each verdict must meet are checked here.
import { parentPort } from 'node:worker_threads'
import * as Y from 'yjs'
import { decodeBlock, encodeBlock, inflateCap, updatePayload } from '../../src/doc/blocks.js'
import { guardUpdate, summarizeState, type UpdateShape } from '../../src/doc/yjs-guard.js'
import { genesis, type Membership } from '../../src/doc/membership.js'
import { WriterClocks, APPLY_LIMITS, type CheckedView } from '../../src/sync/limits-check.js'
import { decodePresence } from '../../src/net/presence.js'
import { changeSetFromJSON, parseClientMessage } from '../../src/server/protocol.js'
import { CODE_BYTES, decodeInvite, encodeInvite } from '../../src/pairing/code.js'
import { decodeSealedInvite } from '../../src/pairing/invites.js'
import { parseKey } from '../../src/storage/keys.js'
import { parseBootstrap } from '../../src/net/bootstrap.js'
import { SwarmpadError } from '../../src/errors.js'

export type DecoderName = 'block' | 'yjs' | 'presence' | 'protocol' | 'changeset' | 'invite' | 'sealed' | 'key' | 'bootstrap'
export type Input = Uint8Array | string

export interface Job {
  decoder: DecoderName
  inputs: Input[]
  progress: SharedArrayBuffer
  slowMs: number
}

export interface JobResult {
  accepted: number
  rejected: number
  /// Inputs that broke the contract: [index, what happened].
  crashes: Array<[number, string]>
  maxMs: number
  maxIndex: number
  slow: number
}

class Violation extends Error {}

function violated(what: string): never {
  throw new Violation(what)
}

const bytesOf = (input: Input): Uint8Array => (typeof input === 'string' ? new TextEncoder().encode(input) : input)
const textOf = (input: Input): string => (typeof input === 'string' ? input : new TextDecoder().decode(input))

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/// Yjs must take what the guard accepted without throwing (the guard's promise).
function yjsTakes(update: Uint8Array): void {
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, update)
    doc.getText('text').toString()
    Y.encodeStateAsUpdate(doc)
  } catch (err) {
    violated(`Yjs threw on an update the guard accepted: ${(err as Error).message}`)
  } finally {
    doc.destroy()
  }
  try {
    Y.mergeUpdates([update, update])
  } catch (err) {
    violated(`Y.mergeUpdates threw on an update the guard accepted: ${(err as Error).message}`)
  }
}

/// An empty document's state, as apply() checks an update against it: the
/// update's first client is the author, its other clients are members that
/// have written nothing yet. The checks must answer (never throw), and a
/// deletion they let through covers only the author's own new clocks.
const emptyView = { updates: { length: 0 }, snapshots: { length: 0 }, rejections: { length: 0 } } as unknown as CheckedView
async function documentChecks(shape: UpdateShape): Promise<void> {
  const membership: Membership = genesis(new Uint8Array(32))
  membership.members = shape.clients.map((clientId, n) => ({ ...membership.members[0]!, n, clientId }))
  const author = membership.members[0]
  if (author === undefined) return
  const clocks = new WriterClocks()
  await clocks.sync(emptyView, APPLY_LIMITS)
  const own = shape.sections[0]!
  const inserted = own.clock === 0 ? own.length : 0
  const problem = clocks.deletionProblem(shape, membership, new Map([[author.clientId, own.clock === 0 ? own.length : 0]]))
  if (problem === null) {
    for (let i = 0; i < shape.deletes.length; i += 3) {
      if (shape.deletes[i] !== author.clientId || shape.deletes[i + 1]! + shape.deletes[i + 2]! > inserted) violated('a deletion of clocks that do not exist was let through')
    }
  }
  const plan = clocks.planText(shape)
  if (plan === null || plan.added < 0) violated('no text plan for an empty document')
  let deleted = 0
  for (let i = 2; i < shape.deletes.length; i += 3) deleted += shape.deletes[i]!
  for (let i = 2; i < shape.deletedItems.length; i += 3) deleted += shape.deletedItems[i]!
  if (plan.added > deleted) violated('more clocks newly deleted than the update deletes')
  clocks.tooLong(plan, inserted, APPLY_LIMITS.maxTextLength)
}

const pending: Array<Promise<void>> = []

const DECODERS: Record<DecoderName, (input: Input) => boolean> = {
  /// A block as apply() meets it: decode, inflate an update, guard it, and
  /// for an accepted update let Yjs take it.
  block(input) {
    const bytes = bytesOf(input)
    const r = decodeBlock(bytes)
    if (!r.ok) {
      if (r.newerVersion !== null) {
        if (!(r.newerVersion > 1)) violated(`newerVersion ${r.newerVersion}`)
        return false
      }
      if (typeof r.reason !== 'string' || r.reason === '') violated('rejection without a reason')
      return false
    }
    if (!equalBytes(encodeBlock(r.block, r.version), bytes)) violated('accepted a block that does not re-encode to its bytes (in its own version)')
    if (r.block.kind !== 'update' && r.block.kind !== 'seed') return true
    let yjs: Uint8Array
    try {
      yjs = updatePayload(r.block, inflateCap(r.block.yjs.length))
    } catch {
      return false // apply() rejects it: 'compressed payload does not inflate within the size cap'
    }
    if (r.block.compressed && yjs.length > inflateCap(r.block.yjs.length)) violated('inflated past the ratio cap')
    const v = guardUpdate(yjs)
    if (!v.ok) return false
    yjsTakes(yjs)
    return true
  },
  yjs(input) {
    const bytes = bytesOf(input)
    // What apply() reads a snapshot with: total on any bytes.
    const summary = summarizeState(bytes)
    if (summary !== null) for (const { end, deleted } of summary.clients.values()) if (deleted.length > 0 && deleted[deleted.length - 1]! > end) violated('a summary deletes past its end')
    const v = guardUpdate(bytes)
    if (!v.ok) {
      if (typeof v.reason !== 'string' || v.reason === '') violated('rejection without a reason')
      return false
    }
    yjsTakes(bytes)
    if (v.shape.clients.length > 0) pending.push(documentChecks(v.shape))
    return true
  },
  presence(input) {
    const r = decodePresence(bytesOf(input))
    if (!r.ok) {
      if (!['oversized', 'malformed', 'version'].includes(r.reason)) violated(`unknown reason ${String(r.reason)}`)
      return false
    }
    const m = r.message
    if (m.discoveryKey.length !== 32 || m.writerKey.length !== 32) violated('accepted a key that is not 32 bytes')
    return true
  },
  protocol(input) {
    const r = parseClientMessage(textOf(input))
    if (!r.ok) {
      if (r.code !== 1007 && r.code !== 1008) violated(`close code ${r.code}`)
      if (typeof r.reason !== 'string' || r.reason === '') violated('rejection without a reason')
      return false
    }
    if (typeof r.message !== 'object' || r.message === null || typeof r.message.type !== 'string') violated('accepted a message without a type')
    // A push's ChangeSets are parsed by the authority next: that must reject cleanly too.
    if (r.message.type === 'push') for (const u of r.message.updates) DECODERS.changeset(JSON.stringify(u.changes))
    return true
  },
  changeset(input) {
    let json: unknown
    try {
      json = JSON.parse(textOf(input))
    } catch {
      return false
    }
    try {
      const cs = changeSetFromJSON(json)
      if (!(cs.length >= 0 && cs.newLength >= 0)) violated('negative lengths')
      return true
    } catch (err) {
      if (err instanceof Violation) throw err
      if (!(err instanceof RangeError)) violated(`threw ${(err as Error)?.constructor?.name ?? typeof err}: ${String((err as Error)?.message ?? err)}`)
      return false
    }
  },
  invite(input) {
    const text = textOf(input)
    try {
      const inv = decodeInvite(text)
      const again = encodeInvite(inv)
      if (again !== text.replace(/[\s-]+/g, '').toLowerCase()) violated('accepted a code that does not re-encode to itself')
      return true
    } catch (err) {
      if (err instanceof Violation) throw err
      if (!(err instanceof SwarmpadError) || err.code !== 'INVALID_INVITE') violated(`threw ${(err as Error)?.constructor?.name}: ${String((err as Error)?.message)}`)
      if (!err.message.startsWith('invalid invite: ')) violated(`unclear message ${err.message}`)
      return false
    }
  },
  sealed(input) {
    try {
      const { code, seedClock } = decodeSealedInvite(bytesOf(input))
      if (code.length !== CODE_BYTES) violated(`a code of ${code.length} bytes`)
      if (seedClock !== null && !(Number.isSafeInteger(seedClock) && seedClock >= 0)) violated(`clock ${seedClock}`)
      return true
    } catch (err) {
      if (err instanceof Violation) throw err
      if (!(err instanceof SwarmpadError) || err.code !== 'INVALID_INVITE') violated(`threw ${(err as Error)?.constructor?.name}: ${String((err as Error)?.message)}`)
      return false
    }
  },
  key(input) {
    const k = parseKey(textOf(input))
    if (k === null) return false
    if (k.length !== 32) violated('a key that is not 32 bytes')
    return true
  },
  bootstrap(input) {
    try {
      const nodes = parseBootstrap(textOf(input))
      for (const n of nodes) if (!(n.port >= 1 && n.port <= 65535) || n.host === '') violated(`accepted ${n.host}:${n.port}`)
      return true
    } catch (err) {
      if (err instanceof Violation) throw err
      if (!(err instanceof SwarmpadError) || err.code !== 'USAGE') violated(`threw ${(err as Error)?.constructor?.name}: ${String((err as Error)?.message)}`)
      return false
    }
  }
}

parentPort?.on('message', (job: Job) => void runJob(job))

async function runJob(job: Job): Promise<void> {
  const progress = new Int32Array(job.progress)
  const decode = DECODERS[job.decoder]
  const result: JobResult = { accepted: 0, rejected: 0, crashes: [], maxMs: 0, maxIndex: -1, slow: 0 }
  for (let i = 0; i < job.inputs.length; i++) {
    Atomics.store(progress, 0, i + 1)
    const t = performance.now()
    try {
      if (decode(job.inputs[i]!)) result.accepted++
      else result.rejected++
      // (The document checks are async only in name: an empty view reads nothing.)
      await Promise.all(pending.splice(0))
    } catch (err) {
      result.crashes.push([i, err instanceof Violation ? err.message : `threw ${(err as Error)?.constructor?.name ?? typeof err}: ${String((err as Error)?.message ?? err).slice(0, 200)}`])
    }
    const ms = performance.now() - t
    if (ms > result.maxMs) {
      result.maxMs = ms
      result.maxIndex = i
    }
    if (ms > job.slowMs) result.slow++
  }
  Atomics.store(progress, 0, 0)
  parentPort!.postMessage(result)
}
