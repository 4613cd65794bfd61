// The daemon's side of Teamtype's editor protocol (src/editor), in process,
// against a real SwarmDocument: random valid and invalid messages from model
// editors (test/helpers/editor-model.ts) with latency both ways, the document
// changed meanwhile by someone else (as a page or a peer would), cursors both
// ways. Every valid sequence must end with each editor's text equal to the
// document's; invalid messages must be answered or dropped with a reason in
// the log, never crash, and never touch the document or the other editors.
import { describe, expect, test } from 'vitest'
import { ChangeSet } from '@codemirror/state'
import { createDoc } from '../helpers/docs.js'
import { iterations, seeded, type Prng } from '../helpers/prng.js'
import { ModelEditor, PIECES, modelOffset, modelPosition, randomDelta } from '../helpers/editor-model.js'
import { EditorHub } from '../../src/editor/hub.js'
import type { EditorConnection } from '../../src/editor/connection.js'
import { FrameDecoder, encodeFrame } from '../../src/editor/framing.js'
import { runRelay, type RelaySocket } from '../../src/editor/relay.js'
import { PassThrough } from 'node:stream'
import { EventEmitter } from 'node:events'
import { textOf } from '../../src/editor/positions.js'
import { SwarmpadError } from '../../src/errors.js'
import type { OpenDocument } from '../../src/swarmpad.js'
import type { SwarmDocument } from '../../src/sync/document.js'
import type { PeerSource, RemotePresence } from '../../src/server/peers.js'

const ROOT = '/shared'
const FILE_A = `file://${ROOT}/a.txt`
const FILE_B = `file://${ROOT}/b.txt`

interface Rig {
  hub: EditorHub
  doc: SwarmDocument
  logs: string[]
  presence: RemotePresence[]
  cursorsSet: Array<{ anchor: number; head: number } | null>
  badCursors: Array<{ anchor: number; head: number }>
  holds: Array<[string, boolean]>
  notifyPresence(): void
  /// A connection whose messages from the daemon go to `inbox`; messages to
  /// the daemon wait in the returned outbox until flushed.
  connect(inbox: string[]): { conn: EditorConnection; outbox: string[]; flush(n?: number): void }
}

/// Until every connection has handled what it received (opens read "the disk").
async function settle(...conns: Array<{ conn: EditorConnection }>): Promise<void> {
  for (let i = 0; i < 1000 && conns.some((c) => !c.conn.idle); i++) await new Promise((res) => setTimeout(res, 1))
}

async function rig(limits: Partial<{ rate: number; burst: number; backlog: number; files: number }> = {}): Promise<Rig> {
  const { doc } = await createDoc()
  const logs: string[] = []
  const presence: RemotePresence[] = []
  const cursorsSet: Array<{ anchor: number; head: number } | null> = []
  const badCursors: Array<{ anchor: number; head: number }> = []
  const holds: Array<[string, boolean]> = []
  const watchers = new Set<() => void>()
  const peers: PeerSource = {
    available: true,
    presence: () => presence.map((p) => ({ ...p })),
    onlineDevices: () => new Set(presence.filter((p) => p.online).map((p) => p.device)),
    status: () => ({ state: 'offline', label: 'offline', peers: 0 }),
    setCursor: (_doc, cursor) => {
      // Every cursor published is inside the document, when it is published.
      if (cursor !== null && (cursor.anchor < 0 || cursor.head < 0 || cursor.anchor > doc.text.length || cursor.head > doc.text.length)) badCursors.push(cursor)
      cursorsSet.push(cursor)
    },
    watch: (_doc, onPresence) => {
      watchers.add(onPresence)
      return () => watchers.delete(onPresence)
    }
  }
  const open = { doc, entry: { name: 'notes', key: 'k' } } as unknown as OpenDocument
  const hub = new EditorHub({
    peers,
    log: (line) => logs.push(line),
    hold: (path, held) => void holds.push([path, held]),
    resolve: async (path) => (path.startsWith(`${ROOT}/`) ? { root: ROOT, file: path.slice(ROOT.length + 1), link: { doc: 'k', name: 'notes' } } : null),
    openLinked: async () => open,
    limits: { rate: 1e9, burst: 1e9, ...limits }
  })
  return {
    hub,
    doc,
    logs,
    presence,
    cursorsSet,
    badCursors,
    holds,
    notifyPresence: () => {
      for (const w of watchers) w()
    },
    connect(inbox) {
      const outbox: string[] = []
      const conn = hub.connect({ send: (t) => void inbox.push(t), close: () => {} })
      return {
        conn,
        outbox,
        flush(n = Infinity) {
          while (n-- > 0 && outbox.length > 0) conn.receive(outbox.shift()!)
        }
      }
    }
  }
}

/// Messages that are wrong in every way the issue lists (and a few more).
function garbage(rng: Prng, uri: string, text: string): string | null {
  const lines = text.split('\n')
  const kind = rng.int(0, 21)
  // String ids: the model editors number theirs.
  const req = (method: string, params: unknown) => JSON.stringify({ jsonrpc: '2.0', id: `g${rng.int(1, 1e6)}`, method, params })
  const lastLine = lines.length - 1
  switch (kind) {
    case 0:
      return '{"jsonrpc":"2.0","id":1,"method":"edit",' // not JSON
    case 1:
      return '[]'
    case 2:
      return JSON.stringify({ jsonrpc: '2.0', id: 'g7' })
    case 3:
      return req('frobnicate', {})
    case 4:
      return JSON.stringify({ jsonrpc: '2.0', method: 'nope' })
    case 5:
      return req('open', { uri: 'file:///elsewhere/x.txt', content: 'x' }) // outside every shared folder
    case 6:
      return req('open', { uri: 'untitled:1', content: '' })
    case 7:
      return req('open', { uri, content: 42 })
    case 8:
      return req('edit', { uri, revision: 0, delta: [{ range: { start: { line: lastLine + 1, character: 0 }, end: { line: lastLine + 1, character: 0 } }, replacement: 'x' }] })
    case 9:
      return req('edit', { uri, revision: 0, delta: [{ range: { start: { line: 0, character: [...lines[0]!].length + 1 }, end: { line: 0, character: [...lines[0]!].length + 1 } }, replacement: 'x' }] })
    case 10: {
      const r = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }
      const far = modelPosition(text, [...text].length)
      return req('edit', { uri, revision: 0, delta: [{ range: { start: far, end: far }, replacement: 'b' }, { range: r, replacement: 'a' }] }) // unsorted
    }
    case 11:
      return req('edit', { uri, revision: 1e6, delta: [] }) // from the future
    case 12:
      return req('edit', { uri, revision: -1, delta: [] })
    case 13:
      return req('edit', { uri, revision: 0, delta: 'x' })
    case 14:
      return req('edit', { uri, revision: 0, delta: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, replacement: '\ud83d' }] })
    case 15:
      return req('cursor', { uri, ranges: 'x' })
    case 16:
      return req('cursor', { uri, ranges: [{ start: { line: 1e9, character: 1e9 }, end: { line: 0, character: -1 } }] })
    case 17:
      return JSON.stringify({ jsonrpc: '2.0', id: { x: 1 }, method: 'edit', params: {} })
    case 18:
      return JSON.stringify({ jsonrpc: '2.0', id: 'g3', method: 'edit', params: [1, 2] })
    case 19:
      return req('edit', { uri: 'file:///shared/never-opened.txt', revision: 0, delta: [] })
    case 20: {
      // Overlapping ranges.
      const end = { line: 0, character: Math.min(2, [...lines[0]!].length) }
      return req('edit', { uri, revision: 0, delta: [{ range: { start: { line: 0, character: 0 }, end }, replacement: '' }, { range: { start: { line: 0, character: 0 }, end }, replacement: '' }] })
    }
    default:
      return null // a binary frame
  }
}

/// Garbage that leaves an open file's session alone (anything but an edit
/// or a re-open of that file).
function harmless(rng: Prng, uri: string, text: string): string | null {
  for (;;) {
    const g = garbage(rng, uri, text)
    if (g === null) return g
    if (/"method":"edit"/.test(g) && g.includes(`"uri":"${uri}"`)) continue
    return g
  }
}

function randomText(rng: Prng, n: number): string {
  let s = ''
  while ([...s].length < n) s += rng.pick(PIECES)
  return s
}

describe('editor protocol (in process, real document)', () => {
  test('random valid and invalid messages: every editor ends equal to the document, nothing crashes', async (ctx) => {
    const rng = seeded(ctx)
    const r = await rig()
    r.doc.replaceText(randomText(rng, 40))
    let steps = 0
    let checks = 0
    for (let round = 0; round < iterations(25); round++) {
      // Two editors on one file (two connections), one on another file of the
      // same document that also gets the garbage; a "page" edits directly.
      const ea = new ModelEditor(FILE_A, rng.bool(0.5) ? r.doc.text.toString() : randomText(rng, 10), () => {})
      const eb = new ModelEditor(FILE_A, r.doc.text.toString(), () => {})
      const ev = new ModelEditor(FILE_B, randomText(rng, 5), () => {})
      const ca = r.connect(ea.inbox)
      const cb = r.connect(eb.inbox)
      const cv = r.connect(ev.inbox)
      ;(ea as unknown as { send: (t: string) => void }).send = (t) => void ca.outbox.push(t)
      ;(eb as unknown as { send: (t: string) => void }).send = (t) => void cb.outbox.push(t)
      ;(ev as unknown as { send: (t: string) => void }).send = (t) => void cv.outbox.push(t)
      ea.open()
      eb.open()
      ev.open()
      let victimValid = true
      const n = rng.int(50, 200)
      // Opens read "the disk" asynchronously: let them finish first.
      ca.flush()
      cb.flush()
      cv.flush()
      await settle(ca, cb, cv)
      for (let i = 0; i < n; i++) {
        steps++
        const what = rng.weighted({ typeA: 6, typeB: 4, typeV: 2, deliverA: 5, deliverB: 5, deliverV: 2, flushA: 4, flushB: 4, flushV: 2, page: 3, garbageV: 2, garbageA: 1, cursor: 2, presence: 1, reopenV: 1 })
        switch (what) {
          case 'typeA':
            if (ea.tracking) ea.type(randomDelta(rng, ea.content))
            break
          case 'typeB':
            if (eb.tracking) eb.type(randomDelta(rng, eb.content))
            break
          case 'typeV':
            if (ev.tracking) ev.type(randomDelta(rng, ev.content))
            break
          case 'deliverA':
            for (let k = rng.int(1, 4); k > 0; k--) ea.deliver()
            break
          case 'deliverB':
            for (let k = rng.int(1, 4); k > 0; k--) eb.deliver()
            break
          case 'deliverV':
            ev.deliver()
            break
          case 'flushA':
            ca.flush(rng.int(1, 3))
            break
          case 'flushB':
            cb.flush(rng.int(1, 3))
            break
          case 'flushV':
            cv.flush(rng.int(1, 3))
            break
          case 'page': {
            const text = r.doc.text.toString()
            const d = randomDelta(rng, text)
            // As the page does: UTF-16 changes straight into the document.
            const specs = d.map((x) => ({ from: modelOffset(text, x.range.start), to: modelOffset(text, x.range.end), insert: x.replacement }))
            r.doc.edit(ChangeSet.of(specs, text.length))
            break
          }
          case 'garbageV': {
            const g = garbage(rng, FILE_B, ev.content)
            cv.flush()
            cv.conn.receive(g)
            if (g !== null && /"method":"(edit|open)"/.test(g) && g.includes(`"uri":"${FILE_B}"`)) victimValid = false
            break
          }
          case 'garbageA':
            ca.flush()
            ca.conn.receive(harmless(rng, FILE_A, ea.content))
            break
          case 'cursor': {
            const e = rng.bool() ? ea : eb
            const c = e === ea ? ca : cb
            const p = modelPosition(e.content, rng.int(0, [...e.content].length))
            e.request('cursor', { uri: e.uri, ranges: rng.bool(0.9) ? [{ start: p, end: p }] : [] })
            c.flush()
            break
          }
          case 'presence': {
            const len = r.doc.text.length
            r.presence.length = 0
            for (let k = rng.int(0, 3); k > 0; k--) {
              const at = rng.int(0, len + 5) // offsets may be stale: past the end
              r.presence.push({ writerKey: `peer${k}`, device: `device${k}`, name: `Peer ${k}`, color: '#123456', anchor: rng.bool(0.8) ? at : null, head: at, online: rng.bool(0.9) })
            }
            r.notifyPresence()
            break
          }
          case 'reopenV':
            // As the plugins do: close, then open (Neovim: the buffer is unloaded and read again).
            ev.close()
            cv.flush()
            ev.deliverAll()
            ev.open()
            cv.flush()
            await settle(cv)
            victimValid = true
            break
        }
        // Every session that follows its file knows the document's text.
        for (const c of [ca, cb, cv]) {
          for (const f of c.conn.files.values()) {
            if (f.desynced === null) expect(f.state.text.toString(), `${what} at step ${i} of round ${round}`).toBe(r.doc.text.toString())
          }
        }
        expect(r.badCursors).toEqual([])
      }
      // Quiesce: everything sent is received, both ways, until nothing moves.
      for (let k = 0; k < 50; k++) {
        ca.flush()
        cb.flush()
        cv.flush()
        await settle(ca, cb, cv)
        const moved = ea.inbox.length + eb.inbox.length + ev.inbox.length + ca.outbox.length + cb.outbox.length + cv.outbox.length
        ea.deliverAll()
        eb.deliverAll()
        ev.deliverAll()
        if (moved === 0) break
      }
      const docText = r.doc.text.toString()
      expect(ea.broken).toBeNull()
      expect(eb.broken).toBeNull()
      expect(ea.content, `editor A, round ${round}`).toBe(docText)
      expect(eb.content, `editor B, round ${round}`).toBe(docText)
      if (victimValid) expect(ev.content, `editor V, round ${round}`).toBe(docText)
      checks++
      // No crash: every refusal has a reason, none is an internal error.
      expect(r.logs.filter((l) => /internal error/.test(l))).toEqual([])
      for (const [id, a] of [...ea.answers, ...eb.answers]) if (typeof id === 'number') expect(a.error, JSON.stringify(a.error)).toBeUndefined()
      // Close one way or the other.
      ea.close()
      ca.flush()
      cb.conn.dispose()
      cv.conn.dispose()
    }
    // The garbage was answered or logged with a reason.
    expect(r.logs.some((l) => /not JSON/.test(l))).toBe(true)
    expect(r.logs.some((l) => /out of step/.test(l))).toBe(true)
    expect(r.logs.some((l) => /unknown method/.test(l))).toBe(true)
    // Every hold was given back.
    const held = new Map<string, number>()
    for (const [p, h] of r.holds) held.set(p, (held.get(p) ?? 0) + (h ? 1 : -1))
    for (const [p, n] of held) expect(n, p).toBe(0)
    await r.doc.flush()
    expect(r.doc.text.toString()).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/)
    console.log(`editor protocol fuzz: ${steps} steps, ${checks} convergence checks, ${r.logs.length} log lines`)
  }, 120_000)

  test('a flood is answered with errors and logged; the document and the other editors go on', async () => {
    const r = await rig({ rate: 100, burst: 200 })
    r.doc.replaceText('hello\n')
    const good = new ModelEditor(FILE_A, 'hello\n', () => {})
    const cg = r.connect(good.inbox)
    ;(good as unknown as { send: (t: string) => void }).send = (t) => void cg.outbox.push(t)
    good.open()
    cg.flush()
    await settle(cg)
    const flood = new ModelEditor(FILE_B, 'hello\n', () => {})
    const cf = r.connect(flood.inbox)
    ;(flood as unknown as { send: (t: string) => void }).send = (t) => void cf.outbox.push(t)
    flood.open()
    cf.flush()
    await settle(cf)
    flood.deliverAll()
    for (let i = 0; i < 5000; i++) flood.request('cursor', { uri: FILE_B, ranges: [] })
    cf.flush()
    flood.deliverAll()
    const refused = [...flood.answers.values()].filter((a) => a.error !== undefined)
    expect(refused.length).toBeGreaterThan(4000)
    expect(refused[0]!.error!.message).toMatch(/too many messages/)
    expect(r.logs.some((l) => /dropped \d+ message\(s\): more than 100 messages per second/.test(l))).toBe(true)
    // Another editor (its own connection, its own budget) is not affected.
    good.deliverAll()
    good.type([{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, replacement: 'world' }])
    cg.flush()
    good.deliverAll()
    expect(r.doc.text.toString()).toBe('hello\nworld')
    expect(good.content).toBe('hello\nworld')
  })

  test('a document this device may only read: an edit is refused with the reason and undone in the editor', async () => {
    const fake = Object.assign(new EventEmitter(), {
      text: textOf('read me\n'),
      closingOrClosed: false,
      edit() {
        throw new SwarmpadError('NOT_WRITABLE', 'this device may read this document but not write to it')
      }
    })
    const hub = new EditorHub({
      peers: { available: false, presence: () => [], onlineDevices: () => new Set(), status: () => ({ state: 'offline', label: 'offline', peers: 0 }), setCursor: () => {}, watch: () => () => {} },
      log: () => {},
      resolve: async () => ({ root: ROOT, file: 'a.txt', link: { doc: 'k', name: 'notes' } }),
      openLinked: async () => ({ doc: fake, entry: { name: 'notes', key: 'k' } }) as unknown as OpenDocument
    })
    const inbox: string[] = []
    const conn = hub.connect({ send: (t) => void inbox.push(t), close: () => {} })
    const e = new ModelEditor(FILE_A, 'read me\n', (t) => conn.receive(t))
    ;(e as unknown as { inbox: string[] }).inbox = inbox
    e.open()
    await settle({ conn })
    e.deliverAll()
    const id = e.type([{ range: { start: { line: 0, character: 4 }, end: { line: 0, character: 4 } }, replacement: '😀' }])
    expect(e.content).toBe('read😀 me\n')
    // (The answer to an edit goes out once the turn's work is done.)
    await settle({ conn })
    e.deliverAll()
    expect(e.answers.get(id)?.error?.message).toMatch(/may read this document but not write to it; your edit was undone/)
    expect(e.content).toBe('read me\n')
    // And the file goes on: the next edit is refused and undone the same way.
    e.type([{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, replacement: 'x' }])
    await settle({ conn })
    e.deliverAll()
    expect(e.content).toBe('read me\n')
  })

  test('framing: random bytes and broken frames between real messages never lose the real ones', async (ctx) => {
    const rng = seeded(ctx)
    for (let round = 0; round < iterations(200); round++) {
      const bodies: string[] = []
      const parts: Buffer[] = []
      for (let i = rng.int(1, 8); i > 0; i--) {
        if (rng.bool(0.3)) {
          // Noise that cannot be taken for a header.
          parts.push(Buffer.from(rng.pick(['xx\r\n\r\n', 'Content-Length: zz\r\n\r\n', 'Content-Length:5\r\nFoo\r\n\r\n', '\r\n\r\n'])))
        }
        const body = JSON.stringify({ n: i, t: randomText(rng, rng.int(0, 20)) })
        bodies.push(body)
        parts.push(encodeFrame(body))
      }
      const wire = Buffer.concat(parts)
      const d = new FrameDecoder()
      const got: string[] = []
      for (let at = 0; at < wire.length; ) {
        const n = rng.int(1, 64)
        for (const f of d.push(wire.subarray(at, at + n))) if (f.type === 'message') got.push(f.body)
        at += n
      }
      expect(got).toEqual(bodies)
    }
  })
})

describe('swarmpad client (the relay, in process)', () => {
  test('daemon restarts while the editor types: the client resumes every file, nothing typed is lost', async (ctx) => {
    const rng = seeded(ctx)
    const { doc } = await createDoc()
    doc.replaceText('start\n')
    const open = { doc, entry: { name: 'notes', key: 'k' } } as unknown as OpenDocument
    const logs: string[] = []
    const newHub = () =>
      new EditorHub({
        peers: { available: false, presence: () => [], onlineDevices: () => new Set(), status: () => ({ state: 'offline', label: 'offline', peers: 0 }), setCursor: () => {}, watch: () => () => {} },
        log: (line) => logs.push(line),
        resolve: async (path) => (path.startsWith(`${ROOT}/`) ? { root: ROOT, file: path.slice(ROOT.length + 1), link: { doc: 'k', name: 'notes' } } : null),
        openLinked: async () => open
      })
    // The wire between client and daemon: messages wait until delivered.
    let hub = newHub()
    let up = true
    let wire: { toDaemon: string[]; toClient: string[]; conn: EditorConnection; closed: Array<() => void>; onMessage: (t: string) => void } | null = null
    const connect = async (): Promise<RelaySocket | null> => {
      if (!up) return null
      const w = { toDaemon: [] as string[], toClient: [] as string[], conn: null as unknown as EditorConnection, closed: [] as Array<() => void>, onMessage: (_t: string) => {} }
      w.conn = hub.connect({ send: (t) => void w.toClient.push(t), close: () => {} })
      wire = w
      return {
        send: (t) => void w.toDaemon.push(t),
        close: () => {},
        onMessage: (h) => (w.onMessage = h),
        onClose: (h) => void w.closed.push(h)
      }
    }
    const pump = async (all = false) => {
      const w = wire
      if (w === null) return
      for (let k = all ? Infinity : rng.int(1, 4); k > 0 && w.toDaemon.length > 0; k--) w.conn.receive(w.toDaemon.shift()!)
      for (let i = 0; i < 200 && !w.conn.idle; i++) await new Promise((res) => setTimeout(res, 1))
      for (let k = all ? Infinity : rng.int(1, 4); k > 0 && w.toClient.length > 0; k--) w.onMessage(w.toClient.shift()!)
    }
    // `swarmpad stop`: what the daemon sent arrives; what it had not read is lost; it closes.
    const stop = () => {
      const w = wire!
      wire = null
      up = false
      w.conn.shutdown(1001, 'stopping')
      for (const t of w.toClient.splice(0)) w.onMessage(t)
      w.toDaemon.length = 0
      for (const h of w.closed) h()
      void hub.close()
    }
    const start = () => {
      hub = newHub()
      up = true
    }
    const input = new PassThrough()
    const output = new PassThrough()
    const editorIn = new FrameDecoder()
    const editor = new ModelEditor(FILE_A, 'start\n', (t) => void input.write(encodeFrame(t)))
    output.on('data', (chunk: Buffer) => {
      for (const f of editorIn.push(chunk)) if (f.type === 'message') editor.inbox.push(f.body)
    })
    const done = runRelay({ input, output, connect, root: ROOT, log: (l) => void logs.push(l), retryMs: 1 })
    await new Promise((res) => setTimeout(res, 5))
    editor.open()
    let restarts = 0
    // Inserts only, each a unique token (with emoji and CJK around it): at
    // the end every token typed must be in the document exactly once.
    const tokens: string[] = []
    let n = 0
    const insert = (text: string, who: string) => {
      const token = `<${who}${++n}${rng.pick(['😀', '漢', 'e\u0301', ''])}>`
      tokens.push(token)
      // Between tokens, never inside one.
      const points = [...text]
      const free: number[] = []
      let depth = 0
      for (let i = 0; i <= points.length; i++) {
        if (depth === 0) free.push(i)
        if (points[i] === '<') depth++
        else if (points[i] === '>') depth--
      }
      const at = modelPosition(text, rng.pick(free))
      return { token, delta: [{ range: { start: at, end: at }, replacement: token }] }
    }
    const typeToken = () => editor.type(insert(editor.content, 'e').delta)
    for (let i = 0; i < iterations(400); i++) {
      await new Promise((res) => setImmediate(res))
      const what = rng.weighted({ type: 6, pump: 8, deliver: 6, page: 1, restart: 0.4 })
      if (what === 'type' && editor.tracking) typeToken()
      else if (what === 'pump') await pump()
      else if (what === 'deliver') editor.deliver()
      else if (what === 'page' && up) {
        const text = doc.text.toString()
        const { delta } = insert(text, 'p')
        doc.edit(ChangeSet.of([{ from: modelOffset(text, delta[0]!.range.start), insert: delta[0]!.replacement }], text.length))
      } else if (what === 'restart' && wire !== null) {
        stop()
        restarts++
        // The editor types on while no daemon runs; someone else's edit reaches the document meanwhile.
        for (let k = rng.int(0, 5); k > 0; k--) {
          await new Promise((res) => setImmediate(res))
          editor.deliver()
          if (editor.tracking) typeToken()
        }
        const text = doc.text.toString()
        const { delta } = insert(text, 'away')
        doc.edit(ChangeSet.of([{ from: modelOffset(text, delta[0]!.range.start), insert: delta[0]!.replacement }], text.length))
        start()
        await new Promise((res) => setTimeout(res, 5))
      }
    }
    // Quiesce.
    for (let k = 0; k < 500; k++) {
      await new Promise((res) => setTimeout(res, 1))
      await pump(true)
      editor.deliverAll()
      const quiet = () => {
        const w = wire as { toDaemon: string[]; toClient: string[]; conn: EditorConnection } | null
        return w !== null && w.toDaemon.length === 0 && w.toClient.length === 0 && editor.inbox.length === 0 && w.conn.idle
      }
      if (quiet()) {
        await new Promise((res) => setTimeout(res, 2))
        if (quiet()) break
      }
    }
    expect(editor.broken).toBeNull()
    expect(editor.content).toBe(doc.text.toString())
    const final = doc.text.toString()
    for (const t of tokens) expect(final.split(t).length - 1, t).toBe(1)
    expect(logs.filter((l) => /internal error|lost track|out of step/.test(l))).toEqual([])
    expect(restarts).toBeGreaterThan(0)
    input.end()
    expect(await done).toBe(0)
    console.log(`relay: ${restarts} daemon restarts, final text ${doc.text.length} units`)
  }, 120_000)
})
