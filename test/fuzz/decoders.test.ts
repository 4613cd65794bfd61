// Decoder fuzz (TESTING.md 5.1, fuzz/decoders): every decoder of untrusted
// input answers random bytes, mutations of valid samples and the committed
// crashers (test/fixtures/crashers/) with a clear verdict, never a crash or a
// hang:
//
//   block      signed blocks as apply() meets them (decodeBlock, inflating a
//              compressed update under its cap, the Yjs guard, and Yjs itself
//              on what the guard lets through)
//   yjs        the Yjs guard (guardUpdate) alone, with the yjs#479 / #687
//              inputs; what it accepts must not make Yjs throw
//   presence   presence messages from peers (decodePresence)
//   protocol   page -> daemon WebSocket frames (parseClientMessage), and the
//              ChangeSets of pushes it accepts
//   changeset  ChangeSet JSON from the page (changeSetFromJSON)
//   invite     invite codes (decodeInvite)
//   sealed     what a `moved` block seals to a member (decodeSealedInvite)
//   key        document keys typed by people (parseKey)
//   bootstrap  --bootstrap / SWARMPAD_BOOTSTRAP values (parseBootstrap)
//   cli        command lines (the commander program with every command,
//              in-process, with the daemon stubbed out; plus a few spawned
//              runs of bin/swarmpad.js for rejected ones)
//
// The decoders run in a worker thread with a capped heap; the test thread
// watches a shared progress counter and terminates the worker when one call
// runs past HANG_MS (a hang), or finds it dead (memory without bound). A
// failing input is saved in test/fixtures/crashers/ (commit it) and replayed
// on every run. Inputs are capped at MAX_INPUT bytes, except a few built to be
// just over each decoder's own cap.
import { describe, expect, test, vi } from 'vitest'
import { Worker } from 'node:worker_threads'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import * as Y from 'yjs'
import b4a from 'b4a'
import { Command, CommanderError } from 'commander'
import { ChangeSet, Text } from '@codemirror/state'
import { encodeBlock, updateBlock, type Block } from '../../src/doc/blocks.js'
import { clientIdFor } from '../../src/doc/membership.js'
import { encodePresence, MAX_PRESENCE_BYTES } from '../../src/net/presence.js'
import { CODE_BYTES, encodeInvite, INVITE_CODE_LENGTH } from '../../src/pairing/code.js'
import { encodeSealedInvite } from '../../src/pairing/invites.js'
import { formatKey } from '../../src/storage/keys.js'
import { MAX_BLOCK_BYTES, MAX_UPDATE_DELETE_RANGES } from '../../src/limits.js'
import { deflateRawSync } from 'node:zlib'
import { craftedUpdates, deleteUpdate, itemUpdate } from '../helpers/crafted-updates.js'
import { MAX_FRAME_BYTES } from '../../src/server/protocol.js'
import { SwarmpadError } from '../../src/errors.js'
import { Prng } from '../helpers/prng.js'
import { tmpDir } from '../helpers/tmp.js'
import { bundle } from './bundle.js'
import { EXTENSIVE, reportFigures, round, roundSeeds, scaled } from './harness.js'
import type { DecoderName, Input, Job, JobResult } from './decoders-worker.js'

const CRASHERS = join(import.meta.dirname, '../fixtures/crashers')
const ROOT = join(import.meta.dirname, '../..')
/// One call running longer than this is a hang (generous: 2 shared cores, GC).
const HANG_MS = 3000
/// Calls slower than this are counted (and the slowest reported).
const SLOW_MS = 100
const MAX_INPUT = 64 * 1024
const BATCH = 500

// --- the command line, in-process, with everything past parsing stubbed ---

/// Thrown by the stubs: the command line parsed and the command got as far as
/// needing the daemon (or the network, or standard input).
const { Reached } = vi.hoisted(() => ({ Reached: class Reached extends Error {} }))

vi.mock('../../src/cli/client.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/cli/client.js')>()),
  ensureDaemon: async () => {
    throw new Reached('daemon')
  },
  findDaemon: async () => {
    throw new Reached('daemon')
  },
  stopDaemon: async () => {
    throw new Reached('stop')
  }
}))
vi.mock('../../src/daemon/run.js', () => ({
  runDaemon: async () => {
    throw new Reached('run daemon')
  }
}))
vi.mock('../../src/net/bootstrap.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/net/bootstrap.js')>()),
  runBootstrapNode: async () => {
    throw new Reached('bootstrap node')
  }
}))
vi.mock('../../src/cli/input.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/cli/input.js')>()
  return {
    ...real,
    readInput: async (file: string | undefined) => {
      if (file === undefined || file === '-') throw new Reached('stdin')
      return real.readInput(file)
    },
    readInviteCode: async () => {
      throw new Reached('stdin')
    }
  }
})
vi.mock('open', () => ({
  default: async () => {
    throw new Reached('browser')
  }
}))

// --- a worker that runs decoders under a watchdog ---

interface Tally {
  inputs: number
  accepted: number
  rejected: number
  crashes: number
  hangs: number
  oom: number
  maxMs: number
  slow: number
}

const tallies = new Map<string, Tally>()
const tally = (name: string): Tally => {
  let t = tallies.get(name)
  if (t === undefined) tallies.set(name, (t = { inputs: 0, accepted: 0, rejected: 0, crashes: 0, hangs: 0, oom: 0, maxMs: 0, slow: 0 }))
  return t
}

interface Failure {
  decoder: string
  input: Input
  what: string
}

class FuzzWorker {
  private worker: Worker | null = null
  private readonly progress = new SharedArrayBuffer(4)

  constructor(private readonly script: string) {}

  private start(): Worker {
    if (this.worker === null) this.worker = new Worker(this.script, { resourceLimits: { maxOldGenerationSizeMb: 512 } })
    return this.worker
  }

  async close(): Promise<void> {
    await this.worker?.terminate()
    this.worker = null
  }

  /// Run `inputs` through `decoder`; the inputs that crashed, hung or blew
  /// the heap come back as failures (the worker is replaced after a hang).
  async run(decoder: DecoderName, inputs: Input[], label: string = decoder): Promise<Failure[]> {
    const failures: Failure[] = []
    const t = tally(label)
    let from = 0
    while (from < inputs.length) {
      const batch = inputs.slice(from, from + BATCH)
      const outcome = await this.runBatch(decoder, batch)
      if ('result' in outcome) {
        const r = outcome.result
        t.inputs += batch.length
        t.accepted += r.accepted
        t.rejected += r.rejected
        t.crashes += r.crashes.length
        t.slow += r.slow
        t.maxMs = Math.max(t.maxMs, r.maxMs)
        for (const [i, what] of r.crashes) failures.push({ decoder, input: batch[i]!, what })
        from += batch.length
      } else {
        // The worker hung or died on batch[index]: record it, run the inputs
        // before it again (their verdicts went down with the worker), go on after it.
        const i = outcome.index
        t.inputs++
        if (outcome.kind === 'hang') t.hangs++
        else t.oom++
        failures.push({ decoder, input: batch[i]!, what: outcome.kind === 'hang' ? `no answer within ${HANG_MS} ms` : `the worker died: ${outcome.message}` })
        if (i > 0) failures.push(...(await this.run(decoder, batch.slice(0, i), label)))
        from += i + 1
      }
    }
    return failures
  }

  private runBatch(decoder: DecoderName, inputs: Input[]): Promise<{ result: JobResult } | { kind: 'hang' | 'dead'; index: number; message: string }> {
    const worker = this.start()
    const progress = new Int32Array(this.progress)
    Atomics.store(progress, 0, 0)
    return new Promise((resolve) => {
      let last = 0
      let since = Date.now()
      const cleanup = () => {
        clearInterval(watch)
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      }
      const fail = (kind: 'hang' | 'dead', message: string) => {
        cleanup()
        const index = Math.max(0, Atomics.load(progress, 0) - 1)
        this.worker = null
        void worker.terminate()
        resolve({ kind, index, message })
      }
      const watch = setInterval(() => {
        const now = Atomics.load(progress, 0)
        if (now !== last) {
          last = now
          since = Date.now()
        } else if (now !== 0 && Date.now() - since > HANG_MS) fail('hang', 'timeout')
      }, 50)
      const onMessage = (result: JobResult) => {
        cleanup()
        resolve({ result })
      }
      const onError = (err: Error) => fail('dead', `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim())
      const onExit = (code: number) => fail('dead', `exit ${code}`)
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', onExit)
      const job: Job = { decoder, inputs, progress: this.progress, slowMs: SLOW_MS }
      worker.postMessage(job)
    })
  }
}

// --- crashers ---

function readCrashers(): Array<{ name: string; bytes: Uint8Array }> {
  return readdirSync(CRASHERS)
    .filter((n) => n.endsWith('.hex'))
    .sort()
    .map((name) => {
      const hex = readFileSync(join(CRASHERS, name), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('')
        .replace(/\s+/g, '')
      return { name, bytes: b4a.from(hex, 'hex') }
    })
}

function saveCrasher(f: Failure, seed: number): string {
  const bytes = typeof f.input === 'string' ? b4a.from(f.input, 'utf8') : f.input
  const id = createHash('sha256').update(bytes).digest('hex').slice(0, 12)
  const path = join(CRASHERS, `fuzz-${f.decoder}-${id}.hex`)
  const hex = b4a.toString(b4a.from(bytes), 'hex').replace(/(.{64})/g, '$1\n')
  writeFileSync(path, `# found by test/fuzz/decoders.test.ts (seed ${seed}) in the ${f.decoder} decoder: ${f.what.replace(/\n/g, ' ')}\n# input ${typeof f.input === 'string' ? 'text (UTF-8)' : 'bytes'}, ${bytes.length} bytes\n${hex}\n`)
  return path
}

// --- generators ---

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x20, 0x0a]

/// 1-4 random byte-level mutations of `sample` (with `others` for splicing).
function mutateBytes(rng: Prng, sample: Uint8Array, others: Uint8Array[]): Uint8Array {
  let b = b4a.from(sample)
  for (let k = rng.int(1, 4); k > 0; k--) {
    const at = b.length === 0 ? 0 : rng.int(0, b.length - 1)
    switch (rng.weighted({ flip: 5, set: 4, insert: 3, remove: 3, dup: 1, truncate: 2, extend: 1, splice: 2, overlong: 2, big: 2 })) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << rng.int(0, 7))
        break
      case 'set':
        if (b.length > 0) b[at] = rng.bool() ? rng.pick(INTERESTING) : rng.int(0, 255)
        break
      case 'insert':
        b = b4a.concat([b.subarray(0, at), rng.bytes(rng.int(1, 8)), b.subarray(at)])
        break
      case 'remove':
        b = b4a.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(1, 8)))])
        break
      case 'dup': {
        const len = rng.int(1, Math.max(1, Math.min(64, b.length - at)))
        b = b4a.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)])
        break
      }
      case 'truncate':
        b = b.subarray(0, rng.int(0, b.length))
        break
      case 'extend':
        b = b4a.concat([b, rng.bytes(rng.int(1, 32))])
        break
      case 'splice': {
        const o = rng.pick(others)
        b = b4a.concat([b.subarray(0, at), o.subarray(rng.int(0, o.length))])
        break
      }
      case 'overlong': {
        // A varint written with needless continuation bytes.
        const v = b[at] ?? 0
        b = b4a.concat([b.subarray(0, at), b4a.from([(v & 0x7f) | 0x80, 0x80, 0x80, 0x00]), b.subarray(at + 1)])
        break
      }
      case 'big':
        // A length or count field that claims far more than follows.
        b = b4a.concat([b.subarray(0, at), b4a.from([0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at + 1)])
        break
    }
  }
  return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b
}

function randomBytes(rng: Prng): Uint8Array {
  const n = rng.weighted({ tiny: 5, small: 4, medium: 2, large: 1 })
  const len = n === 'tiny' ? rng.int(0, 8) : n === 'small' ? rng.int(0, 64) : n === 'medium' ? rng.int(0, 1024) : rng.int(0, MAX_INPUT)
  return rng.bytes(len)
}

/// Binary inputs: samples, crashers, random bytes and mutations.
function binaryInputs(rng: Prng, count: number, samples: Uint8Array[], crashers: Uint8Array[], overCap: Uint8Array[]): Input[] {
  const pool = [...samples, ...crashers]
  const out: Input[] = [...samples, ...crashers, ...overCap]
  while (out.length < count) {
    const kind = rng.weighted({ random: 2, mutate: 7, crasher: 1 })
    if (kind === 'random') out.push(randomBytes(rng))
    else out.push(mutateBytes(rng, kind === 'crasher' && crashers.length > 0 ? rng.pick(crashers) : rng.pick(pool), pool))
  }
  return out
}

function randomYDocUpdates(rng: Prng, count: number): Uint8Array[] {
  const out: Uint8Array[] = []
  const docs = [0, 1, 2].map(() => {
    const d = new Y.Doc()
    d.clientID = clientIdFor(rng.bytes(32))
    d.on('update', (u: Uint8Array) => out.push(u))
    return d
  })
  while (out.length < count) {
    const d = rng.pick(docs)
    const text = d.getText('text')
    d.transact(() => {
      if (text.length > 0 && rng.bool(0.3)) {
        const at = rng.int(0, text.length - 1)
        text.delete(at, rng.int(1, Math.min(10, text.length - at)))
      } else text.insert(rng.int(0, text.length), rng.string(rng.int(1, 40)))
    })
    if (rng.bool(0.2)) {
      const other = rng.pick(docs)
      if (other !== d) Y.applyUpdate(other, Y.encodeStateAsUpdate(d))
    }
  }
  for (const d of docs) out.push(Y.encodeStateAsUpdate(d))
  out.push(Y.mergeUpdates(out.slice(0, 20)))
  return out
}

function blockSamples(rng: Prng): Uint8Array[] {
  const key = () => b4a.from(rng.bytes(32))
  const updates = randomYDocUpdates(rng, 20)
  const client = clientIdFor(rng.bytes(32))
  const blocks: Block[] = [
    ...updates.map((u): Block => ({ kind: 'update', time: rng.int(0, 2 ** 40), yjs: u })),
    ...craftedUpdates(rng).map((u): Block => ({ kind: 'update', time: 1, yjs: u })),
    // Deflated past the ratio cap (200,000 x 'a' deflates ~1000x), and within it.
    { kind: 'update', time: 1, yjs: deflateRawSync(itemUpdate(client, 0, 'a'.repeat(200_000))), compressed: true },
    { kind: 'update', time: 1, yjs: deflateRawSync(itemUpdate(client, 0, rng.string(20_000, [...'abcdefgh ']))), compressed: true },
    // Large enough to be deflated.
    updateBlock(Y.mergeUpdates(updates), 1_700_000_000_000),
    { kind: 'add-writer', key: key(), role: 'writer' },
    { kind: 'add-writer', key: key(), role: 'owner' },
    { kind: 'remove-writer', key: key() },
    { kind: 'profile', name: 'Ada', color: '#112233', device: key() },
    { kind: 'profile', name: '', color: '', device: null },
    { kind: 'meta', title: 'a title é😀' },
    { kind: 'moved', key: key(), sealed: [{ writer: key(), box: rng.bytes(80) }, { writer: key(), box: rng.bytes(80) }] }
  ]
  return blocks.map((b) => encodeBlock(b))
}

function presenceSamples(rng: Prng): Uint8Array[] {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'hello world')
  const pos = (i: number) => Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(doc.getText('text'), i))
  const base = { discoveryKey: b4a.from(rng.bytes(32)), writerKey: b4a.from(rng.bytes(32)) }
  return [
    encodePresence({ ...base, name: 'Ada', color: '#112233', alive: true, cursor: { anchor: pos(0), head: pos(5) } }),
    encodePresence({ ...base, name: 'é😀'.repeat(10), color: '', alive: true, cursor: null }),
    encodePresence({ ...base, name: '', color: '#abcdef', alive: false, cursor: null }),
    encodePresence({ ...base, name: 'x'.repeat(64), color: '#123456', alive: true, cursor: { anchor: pos(11), head: pos(11) } })
  ]
}

// Page protocol messages.

function changeSetSample(rng: Prng): unknown {
  const text = Text.of(['hello', 'world'])
  const cs = ChangeSet.of([{ from: rng.int(0, text.length), insert: rng.string(rng.int(0, 10)) }], text.length)
  return cs.toJSON()
}

function messageSamples(rng: Prng): Array<Record<string, unknown>> {
  return [
    { type: 'documents' },
    { type: 'documents', rid: 1 },
    { type: 'create', rid: 2, name: 'notes' },
    { type: 'join', doc: 'notes', clientID: 'tab_1', resume: null },
    { type: 'join', doc: 'notes', clientID: 'tab-2', resume: { epoch: 'e1', version: 3 } },
    { type: 'leave', doc: 'notes' },
    { type: 'push', doc: 'notes', rid: 3, version: 0, updates: [{ seq: 0, changes: changeSetSample(rng) }, { seq: 1, changes: [10, [0, 'x']] }] },
    { type: 'presence', doc: 'notes', version: 2, anchor: 1, head: 3 },
    { type: 'presence', doc: 'notes', version: 2, anchor: null, head: null },
    { type: 'profile', doc: 'notes', rid: 4, name: 'Ada', color: '#112233' },
    { type: 'remove-member', doc: 'notes', rid: 5, key: 'ab'.repeat(32) },
    { type: 'remove-member', doc: 'notes', rid: 5, key: 'ab'.repeat(32), rekey: true },
    { type: 'history', doc: 'notes', rid: 6 },
    { type: 'history-at', doc: 'notes', rid: 7, index: 2, blame: true },
    { type: 'restore', doc: 'notes', rid: 8, index: 1 },
    { type: 'invite-create', doc: 'notes', rid: 9, kind: 'writer' },
    { type: 'invite-list', doc: 'notes', rid: 10 },
    { type: 'invite-cancel', doc: 'notes', rid: 11, id: 'abc' }
  ]
}

function randomJsonValue(rng: Prng, depth = 0): unknown {
  switch (rng.weighted({ num: 4, str: 4, bool: 1, nil: 1, arr: depth < 3 ? 2 : 0, obj: depth < 3 ? 2 : 0, special: 2 })) {
    case 'num':
      return rng.pick([0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, rng.int(-1000, 1000)])
    case 'str':
      return rng.pick(['', 'notes', 'x'.repeat(rng.int(0, 300)), '\u0000', '\ud800', '😀', '__proto__', 'constructor', rng.string(rng.int(0, 20))])
    case 'bool':
      return rng.bool()
    case 'nil':
      return null
    case 'arr':
      return Array.from({ length: rng.int(0, 4) }, () => randomJsonValue(rng, depth + 1))
    case 'obj': {
      const o: Record<string, unknown> = {}
      for (let k = rng.int(0, 3); k > 0; k--) o[rng.pick(['type', 'doc', 'rid', 'seq', 'changes', 'x', '__proto__', 'constructor'])] = randomJsonValue(rng, depth + 1)
      return o
    }
    default:
      return rng.pick([[0, [0]], [[-1, 'a']], [5.5], [[0, 'a\nb']], [1, [2, 'x', 'y'], 3], Array(50).fill(1)])
  }
}

/// A message with one field changed, removed or added.
function mutateMessage(rng: Prng, m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(m)
  const keys = Object.keys(out)
  switch (rng.weighted({ change: 5, remove: 2, add: 2, type: 1, deep: 2 })) {
    case 'change':
      out[rng.pick(keys)] = randomJsonValue(rng)
      break
    case 'remove':
      delete out[rng.pick(keys)]
      break
    case 'add':
      out[rng.pick(['extra', '__proto__', 'constructor', 'rid', 'doc'])] = randomJsonValue(rng)
      break
    case 'type':
      out.type = rng.pick(['push ', 'PUSH', '', 'toString', 'hasOwnProperty', '__proto__', rng.string(5)])
      break
    case 'deep':
      if (Array.isArray(out.updates)) {
        const u = out.updates as unknown[]
        u[rng.int(0, u.length - 1)] = rng.bool() ? { seq: randomJsonValue(rng), changes: randomJsonValue(rng) } : randomJsonValue(rng)
      } else if (out.resume !== undefined) out.resume = randomJsonValue(rng)
      else out[rng.pick(keys)] = randomJsonValue(rng, 1)
      break
  }
  return out
}

function mutateString(rng: Prng, s: string, alphabet: readonly string[]): string {
  let out = s
  for (let k = rng.int(1, 3); k > 0; k--) {
    const at = rng.int(0, out.length)
    switch (rng.weighted({ replace: 4, insert: 2, remove: 2, truncate: 1, case: 1, space: 1, weird: 1 })) {
      case 'replace':
        out = out.slice(0, at) + rng.pick(alphabet) + out.slice(at + 1)
        break
      case 'insert':
        out = out.slice(0, at) + rng.pick(alphabet) + out.slice(at)
        break
      case 'remove':
        out = out.slice(0, at) + out.slice(at + rng.int(1, 4))
        break
      case 'truncate':
        out = out.slice(0, at)
        break
      case 'case':
        out = out.toUpperCase()
        break
      case 'space':
        out = out.slice(0, at) + rng.pick([' ', '-', '\n', '\t', '  ', '\u00a0']) + out.slice(at)
        break
      case 'weird':
        out = out.slice(0, at) + rng.pick(['\u0000', '\ud800', '😀', 'é', '\u200b', '%', '"']) + out.slice(at)
        break
    }
  }
  return out
}

const Z32 = [...'ybndrfg8ejkmcpqxot1uwisza345h769']
const HEX = [...'0123456789abcdefABCDEF']
const PRINTABLE = [...'abcxyz0189 -_:,./\\@#!?é😀\u0000\n\t[]{}']

function stringInputs(rng: Prng, count: number, samples: string[], alphabet: readonly string[], extra: string[] = []): Input[] {
  const out: Input[] = [...samples, ...extra, '', ' ', '\u0000']
  while (out.length < count) {
    const kind = rng.weighted({ mutate: 6, random: 2, randomAlpha: 2 })
    if (kind === 'mutate') out.push(mutateString(rng, rng.pick(samples), rng.bool(0.7) ? alphabet : PRINTABLE))
    else if (kind === 'randomAlpha') out.push(Array.from({ length: rng.int(0, 2 * Math.max(...samples.map((s) => s.length))) }, () => rng.pick(alphabet)).join(''))
    else out.push(Array.from({ length: rng.int(0, 80) }, () => String.fromCharCode(rng.int(0, 0xffff))).join(''))
  }
  return out
}

// --- the command line ---

/// The `swarmpad` program as src/cli/main.ts builds it (main.ts runs itself
/// on import, so this mirrors buildProgram()), silent.
async function cliProgram(): Promise<Command> {
  const { COMMANDS } = await import('../../src/cli/commands/index.js')
  const program = new Command('swarmpad')
  program
    .version('0.0.0-test', '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--home <dir>', 'storage root')
    .option('--bootstrap <host:port,...>', 'DHT bootstrap nodes')
    .option('--no-lan', 'no LAN discovery')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} })
  for (const register of COMMANDS) register(program)
  return program
}

type CliVerdict = 'parsed' | 'usage' | 'refused' | 'help'

async function runCli(argv: string[]): Promise<CliVerdict> {
  const program = await cliProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return 'parsed'
  } catch (err) {
    if (err instanceof Reached) return 'parsed'
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 'help'
      if (err.message.trim() === '') throw new Error('a usage error without a message')
      return 'usage'
    }
    if (err instanceof SwarmpadError) {
      if (err.message.trim() === '') throw new Error(`${err.code} without a message`)
      return 'refused'
    }
    throw err
  }
}

function cliArgv(rng: Prng, program: Command, files: { text: string; dir: string }): string[] {
  const commands = program.commands
  const argv: string[] = []
  const value = () =>
    rng.pick([
      'notes',
      'a/b',
      '',
      ' ',
      '-x',
      '--',
      'ybndrfg8',
      formatKey(rng.bytes(32)),
      b4a.toString(b4a.from(rng.bytes(32)), 'hex'),
      encodeInvite({ role: 'writer', seed: rng.bytes(32), discoveryKey: rng.bytes(32), expires: Date.now() + 3600_000 }),
      encodeInvite({ role: 'reader', key: rng.bytes(32), encryptionKey: rng.bytes(32), expires: Date.now() - 1000 }).slice(0, 60),
      '30m',
      '0s',
      '99999999w',
      '-3',
      '7',
      '65536',
      '0',
      '#abc',
      '#12345g',
      'blue',
      'owner',
      'read-only',
      'boss',
      '127.0.0.1:1',
      'nonsense',
      files.text,
      files.dir,
      join(files.dir, 'missing.txt'),
      'é😀'.repeat(rng.int(1, 40)),
      'x'.repeat(rng.int(60, 300)),
      '\u0000',
      rng.string(rng.int(0, 12))
    ])
  if (rng.bool(0.3)) argv.push(rng.pick(['--home', '--bootstrap']), rng.bool(0.8) ? files.dir : value())
  if (rng.bool(0.1)) argv.push('--no-lan')
  const cmd = rng.bool(0.9) ? rng.pick(commands) : null
  argv.push(cmd !== null ? (rng.bool(0.05) ? cmd.name().toUpperCase() : cmd.name()) : rng.pick(['', 'frobnicate', 'lss', '-h', '--help', '-V', '--frob', 'help']))
  const flags = cmd !== null ? cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string')) : []
  for (let k = rng.int(0, 5); k > 0; k--) {
    if (flags.length > 0 && rng.bool(0.5)) {
      argv.push(rng.pick(flags))
      if (rng.bool(0.7)) argv.push(value())
    } else if (rng.bool(0.1)) argv.push(rng.pick(['--help', '--json', '--', '--unknown', '-z']))
    else argv.push(value())
  }
  return argv
}

/// Spawn the real binary for a command line that the in-process run refused
/// as a usage error: exit status 2, one line on stderr, nothing started.
function spawnCli(argv: string[], home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/swarmpad.js'), ...argv], {
      env: { ...process.env, SWARMPAD_HOME: home, SWARMPAD_LAN: '0', SWARMPAD_BOOTSTRAP: '127.0.0.1:1', SWARMPAD_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

// --- the suite ---

describe('decoder fuzz: random bytes, mutations of valid samples and committed crashers', () => {
  test('every decoder answers with a clear verdict, never a crash or a hang', async (ctx) => {
    const script = await bundle('test/fuzz/decoders-worker.ts', 'decoders-worker')
    const worker = new FuzzWorker(script)
    const crashers = readCrashers()
    const failures: Array<Failure & { seed: number }> = []
    const n = (base: number) => scaled(base)
    try {
      for (const seed of roundSeeds(1, [21])) {
        await round(ctx, seed, async (rng) => {
          const crasherBytes = crashers.map((c) => c.bytes)
          const asText = crashers.map((c) => b4a.toString(c.bytes, 'utf8'))
          const runs: Array<[DecoderName, Input[]]> = [
            ['block', binaryInputs(rng, n(12_000), blockSamples(rng), crasherBytes, [new Uint8Array(MAX_BLOCK_BYTES + 1)])],
            [
              'yjs',
              binaryInputs(rng, n(12_000), [...randomYDocUpdates(rng, 40), ...craftedUpdates(rng)], crasherBytes, [
                new Uint8Array(MAX_BLOCK_BYTES).fill(1),
                // One delete range more than the cap.
                deleteUpdate(Array.from({ length: MAX_UPDATE_DELETE_RANGES + 1 }, (_, i): [number, number, number] => [1, 2 * i, 1]))
              ])
            ],
            ['presence', binaryInputs(rng, n(12_000), presenceSamples(rng), crasherBytes, [new Uint8Array(MAX_PRESENCE_BYTES + 1)])],
            [
              'protocol',
              (() => {
                const samples = messageSamples(rng)
                const out: Input[] = samples.map((m) => JSON.stringify(m))
                while (out.length < n(12_000)) {
                  const kind = rng.weighted({ field: 6, text: 2, random: 1, nested: 1 })
                  if (kind === 'field') out.push(JSON.stringify(mutateMessage(rng, rng.pick(samples))))
                  else if (kind === 'text') out.push(mutateString(rng, JSON.stringify(rng.pick(samples)), PRINTABLE))
                  else if (kind === 'random') out.push(JSON.stringify(randomJsonValue(rng)))
                  else {
                    const depth = rng.int(10, 5000)
                    out.push(`{"type":"push","doc":"notes","rid":1,"version":0,"updates":[{"seq":0,"changes":${'['.repeat(depth)}${']'.repeat(depth)}}]}`)
                  }
                }
                out.push(...asText, `{"type":"create","rid":1,"name":"${'x'.repeat(MAX_FRAME_BYTES)}"}`)
                return out
              })()
            ],
            [
              'changeset',
              (() => {
                const out: Input[] = []
                while (out.length < n(6_000)) out.push(JSON.stringify(rng.bool(0.5) ? changeSetSample(rng) : randomJsonValue(rng)))
                out.push(JSON.stringify(Array(200_000).fill(1)), JSON.stringify([[0, ...Array(100_000).fill('line')]]))
                return out
              })()
            ],
            [
              'invite',
              stringInputs(
                rng,
                n(12_000),
                [
                  encodeInvite({ role: 'writer', seed: rng.bytes(32), discoveryKey: rng.bytes(32), expires: Date.now() + 86_400_000 }),
                  encodeInvite({ role: 'owner', seed: rng.bytes(32), discoveryKey: rng.bytes(32), expires: Date.now() + 86_400_000 }),
                  encodeInvite({ role: 'reader', key: rng.bytes(32), encryptionKey: rng.bytes(32), expires: 1000 })
                ],
                Z32,
                [...asText, 'y'.repeat(INVITE_CODE_LENGTH), 'y'.repeat(10 * INVITE_CODE_LENGTH), '9'.repeat(INVITE_CODE_LENGTH)]
              )
            ],
            [
              'sealed',
              binaryInputs(
                rng,
                n(4_000),
                [0, 1, 300, 2 ** 32, Number.MAX_SAFE_INTEGER].map((clock) => encodeSealedInvite(rng.bytes(CODE_BYTES), clock)),
                crasherBytes,
                [rng.bytes(CODE_BYTES)]
              )
            ],
            ['key', stringInputs(rng, n(4_000), [formatKey(rng.bytes(32)), b4a.toString(b4a.from(rng.bytes(32)), 'hex')], [...Z32, ...HEX], asText)],
            ['bootstrap', stringInputs(rng, n(4_000), ['127.0.0.1:49737', 'node.example:1,10.0.0.1:65535', ' localhost:8000 '], [...'0123456789.:,abc-[] '], asText)]
          ]
          for (const [decoder, inputs] of runs) {
            for (const f of await worker.run(decoder, inputs)) failures.push({ ...f, seed })
          }
        })
      }
    } finally {
      await worker.close()
    }
    const saved = failures.slice(0, 20).map((f) => `${f.decoder}: ${f.what} -> ${saveCrasher(f, f.seed)}`)
    if (failures.length > 0) throw new Error(`${failures.length} inputs broke a decoder (saved, commit them):\n${saved.join('\n')}`)
    for (const [name, t] of tallies) {
      expect(t.inputs, `${name}: inputs`).toBeGreaterThan(0)
      expect(t.accepted, `${name}: some valid inputs are accepted`).toBeGreaterThan(0)
      expect(t.rejected, `${name}: some bad inputs are refused`).toBeGreaterThan(0)
    }
  }, scaled(240_000, 10))

  test('the watchdog works: a hanging call and a crashing one are caught', async () => {
    // A decoder that hangs on one input: the watchdog must name it, and the
    // worker must carry on with the rest.
    const dir = await tmpDir('swarmpad-fuzz-')
    const script = join(dir, 'hang.mjs')
    writeFileSync(
      script,
      `import { parentPort } from 'node:worker_threads'
parentPort.on('message', (job) => {
  const p = new Int32Array(job.progress)
  const r = { accepted: 0, rejected: 0, crashes: [], maxMs: 0, maxIndex: -1, slow: 0 }
  for (let i = 0; i < job.inputs.length; i++) {
    Atomics.store(p, 0, i + 1)
    if (job.inputs[i] === 'hang') for (;;) {}
    if (job.inputs[i] === 'crash') r.crashes.push([i, 'threw TypeError'])
    else r.accepted++
  }
  Atomics.store(p, 0, 0)
  parentPort.postMessage(r)
})`
    )
    const worker = new FuzzWorker(script)
    try {
      const failures = await worker.run('key', ['a', 'crash', 'b', 'hang', 'c'], 'watchdog self-test')
      expect(failures.map((f) => [f.input, f.what.startsWith('no answer') ? 'hang' : f.what])).toEqual([
        ['hang', 'hang'],
        ['crash', 'threw TypeError']
      ])
      expect(tally('watchdog self-test')).toMatchObject({ inputs: 5, accepted: 3, crashes: 1, hangs: 1 })
    } finally {
      await worker.close()
      tallies.delete('watchdog self-test')
    }
  }, 30_000)

  test('command lines: parsed, a usage error or a clear refusal, never an internal error; spawned runs print one line', async (ctx) => {
    const dir = await tmpDir('swarmpad-cli-fuzz-')
    const text = join(dir, 'note.txt')
    writeFileSync(text, 'hello\n')
    const program = await cliProgram()
    const t = tally('cli')
    const verdicts: Record<CliVerdict, number> = { parsed: 0, usage: 0, refused: 0, help: 0 }
    const usage: string[][] = []
    for (const seed of roundSeeds(1, [22])) {
      await round(ctx, seed, async (rng) => {
        const count = scaled(1500)
        for (let i = 0; i < count; i++) {
          const argv = cliArgv(rng, program, { text, dir })
          const t0 = performance.now()
          let verdict: CliVerdict
          try {
            verdict = await runCli(argv)
          } catch (err) {
            const path = saveCrasher({ decoder: 'cli', input: JSON.stringify(argv), what: String(err) }, seed)
            throw new Error(`swarmpad ${JSON.stringify(argv)} failed with an internal error: ${String(err)} (saved to ${path})`)
          }
          const ms = performance.now() - t0
          t.inputs++
          t.maxMs = Math.max(t.maxMs, ms)
          if (ms > SLOW_MS) t.slow++
          verdicts[verdict]++
          if (verdict === 'parsed' || verdict === 'help') t.accepted++
          else t.rejected++
          if (verdict === 'usage' && usage.length < 200) usage.push(argv)
        }
        // Committed command-line crashers (JSON argv in fuzz-cli-*.hex).
        for (const c of readCrashers().filter((x) => x.name.startsWith('fuzz-cli-'))) {
          await runCli(JSON.parse(b4a.toString(c.bytes, 'utf8')) as string[])
        }
        // A few spawned runs of the real binary on usage errors.
        if (existsSync(join(ROOT, 'dist/cli/main.js'))) {
          const home = join(dir, 'home')
          // (A shell cannot pass a NUL byte in an argument: those stay in-process.)
          const spawnable = usage.filter((a) => !a.includes('--home') && !a.some((x) => x.includes('\u0000')))
          for (const argv of rng.shuffle(spawnable).slice(0, scaled(8, 5))) {
            const r = await spawnCli(argv, home)
            expect(r.code, `swarmpad ${JSON.stringify(argv)}: ${r.stderr}`).toBe(2)
            expect(r.stderr, `swarmpad ${JSON.stringify(argv)}`).toMatch(/^swarmpad: [^\n]+\n$/)
            expect(r.stderr).not.toMatch(/internal error|\n\s+at /)
            t.inputs++
            t.rejected++
          }
          expect(existsSync(home), 'a refused command line created the storage root').toBe(false)
        } else console.warn('dist/cli/main.js is missing (run `npx tsc -p .`): spawned runs skipped')
      })
    }
    expect(verdicts.parsed).toBeGreaterThan(0)
    expect(verdicts.usage).toBeGreaterThan(0)
    expect(verdicts.refused).toBeGreaterThan(0)
    reportFigures('decoders', {
      extensive: EXTENSIVE,
      hangMs: HANG_MS,
      slowMs: SLOW_MS,
      cliVerdicts: verdicts,
      decoders: Object.fromEntries([...tallies].map(([k, v]) => [k, { ...v, maxMs: Math.round(v.maxMs * 10) / 10 }]))
    })
  }, scaled(180_000, 10))
})
