// The decoders under fuzz, run in a worker thread (bundled by esbuild at test
// time, see bundle.ts): the test thread watches a shared progress counter and
// terminates the worker when one call runs past its time budget (a hang), and
// the worker's heap is capped (an input that makes a decoder allocate without
// bound kills the worker: ERR_WORKER_OUT_OF_MEMORY). Each decoder must give a
// clear verdict (accepted, or a rejection with a reason) and never throw
// anything else; the invariants each verdict must meet are checked here.
import { parentPort } from 'node:worker_threads'
import * as Y from 'yjs'
import { decodeBlock, encodeBlock, updatePayload } from '../../src/doc/blocks.js'
import { guardUpdate } from '../../src/doc/yjs-guard.js'
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
    if (!equalBytes(encodeBlock(r.block), bytes)) violated('accepted a block that does not re-encode to its bytes')
    if (r.block.kind !== 'update') return true
    let yjs: Uint8Array
    try {
      yjs = updatePayload(r.block)
    } catch {
      return false // apply() rejects it: 'compressed payload does not inflate within the size cap'
    }
    const v = guardUpdate(yjs)
    if (!v.ok) return false
    yjsTakes(yjs)
    return true
  },
  yjs(input) {
    const bytes = bytesOf(input)
    const v = guardUpdate(bytes)
    if (!v.ok) {
      if (typeof v.reason !== 'string' || v.reason === '') violated('rejection without a reason')
      return false
    }
    yjsTakes(bytes)
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

parentPort?.on('message', (job: Job) => {
  const progress = new Int32Array(job.progress)
  const decode = DECODERS[job.decoder]
  const result: JobResult = { accepted: 0, rejected: 0, crashes: [], maxMs: 0, maxIndex: -1, slow: 0 }
  for (let i = 0; i < job.inputs.length; i++) {
    Atomics.store(progress, 0, i + 1)
    const t = performance.now()
    try {
      if (decode(job.inputs[i]!)) result.accepted++
      else result.rejected++
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
})
