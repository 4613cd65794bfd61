import Corestore from 'corestore'
import b4a from 'b4a'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream'
import { onTestFinished } from 'vitest'
import { SwarmDocument } from '../../src/sync/document.js'
import type { RejectionEntry } from '../../src/doc/entries.js'
import type { Prng } from './prng.js'
import { tmpDir } from './tmp.js'

export interface TestDoc {
  doc: SwarmDocument
  dir: string
  reopen(): Promise<TestDoc>
}

/// A document on its own Corestore in a temporary directory, closed after the test.
export async function createDoc(opts: { key?: Uint8Array | null; encryptionKey?: Uint8Array; dir?: string; ackInterval?: number; word?: (w: string) => string } = {}): Promise<TestDoc> {
  const dir = opts.dir ?? (await tmpDir())
  const encryptionKey = opts.encryptionKey ?? randomBytes(32)
  const store = new Corestore(dir)
  const doc = new SwarmDocument(store.namespace('doc'), { key: opts.key ?? null, encryptionKey, ackInterval: opts.ackInterval ?? 0, ...(opts.word ? { word: opts.word } : {}) })
  doc.on('error', (err) => console.error('document error', err))
  onTestFinished(async () => {
    await doc.close().catch(() => {})
    await store.close().catch(() => {})
  })
  await doc.ready()
  const key = doc.key
  return {
    doc,
    dir,
    async reopen() {
      await doc.close()
      await store.close()
      return createDoc({ key, encryptionKey, dir, ackInterval: opts.ackInterval ?? 0, ...(opts.word ? { word: opts.word } : {}) })
    }
  }
}

/// A peer of `origin`'s document on a fresh Corestore.
/// `word`: this peer stands for a build that words refusals differently.
export async function joinDoc(origin: SwarmDocument, opts: { ackInterval?: number; word?: (w: string) => string } = {}): Promise<TestDoc> {
  return createDoc({ key: origin.key, encryptionKey: origin.encryptionKey, ...opts })
}

/// Replicate two documents over an in-process pipe until the returned function is called.
export function connect(a: SwarmDocument, b: SwarmDocument): () => void {
  const s1 = a.replicate(true)
  const s2 = b.replicate(false)
  pipeline(s1, s2, s1, () => {})
  let open = true
  const stop = () => {
    if (!open) return
    open = false
    s1.destroy()
    s2.destroy()
  }
  onTestFinished(stop)
  return stop
}

/// Connect every pair of documents; returns a function that disconnects them all.
export function connectAll(docs: SwarmDocument[]): () => void {
  const stops: Array<() => void> = []
  for (let i = 0; i < docs.length; i++) for (let j = i + 1; j < docs.length; j++) stops.push(connect(docs[i]!, docs[j]!))
  return () => {
    for (const s of stops) s()
  }
}

/// Poll until `check` holds or `ms` pass; fails with `what`.
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/// Wait until every document has the same text and the same number of
/// accepted updates and rejections, updating each along the way.
export async function converge(docs: SwarmDocument[], ms = 30_000): Promise<void> {
  let last = ''
  try {
    await eventually(async () => {
      for (const d of docs) await d.update()
      const first = docs[0]!.text.toString()
      last = docs.map((d) => `${d.text.length}:${d.updateCount}:${d.autobase.view.rejections.length}`).join(' ')
      return docs.every(
        (d) =>
          d.text.toString() === first &&
          d.updateCount === docs[0]!.updateCount &&
          d.autobase.view.rejections.length === docs[0]!.autobase.view.rejections.length
      )
    }, 'documents to converge', ms)
  } catch (err) {
    const t0 = docs[0]!.text.toString()
    const diffs = docs.slice(1).map((d) => {
      const t = d.text.toString()
      let i = 0
      while (i < t.length && t[i] === t0[i]) i++
      return i === t.length && i === t0.length ? 'same' : `first difference at ${i}: ${JSON.stringify(t0.slice(Math.max(0, i - 3), i + 4))} vs ${JSON.stringify(t.slice(Math.max(0, i - 3), i + 4))}`
    })
    throw new Error(`${(err as Error).message} (length:updates:rejections per peer: ${last}; ${diffs.join('; ')})`)
  }
}

/// Add `joiner` as a member of `owner`'s document and wait until it can write.
export async function addWriter(owner: SwarmDocument, joiner: SwarmDocument, role: 'writer' | 'owner' = 'writer'): Promise<void> {
  await owner.addMember(joiner.writerKey, role)
  await eventually(async () => {
    await joiner.update()
    return joiner.writable
  }, 'the new member to become writable')
}

/// Make one random CodeMirror-style edit (1-3 changes) and return its result.
/// Like an editor, it never puts a boundary inside a surrogate pair.
export function randomEdit(rng: Prng, doc: SwarmDocument, tag = ''): ReturnType<SwarmDocument['edit']> {
  const text = doc.text
  const length = text.length
  const whole = (p: number) => {
    if (p <= 0 || p >= length) return p
    const two = text.sliceString(p - 1, p + 1)
    const hi = two.charCodeAt(0)
    const lo = two.charCodeAt(1)
    return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? p + 1 : p
  }
  const changes: Array<{ from: number; to?: number; insert?: string }> = []
  // Changes of one edit are in the coordinates of the text before it, sorted and disjoint.
  let pos = 0
  for (let k = rng.int(1, 3); k > 0 && pos <= length; k--) {
    const from = whole(rng.int(pos, length))
    const del = length - from > 0 && rng.bool(0.3) ? rng.int(1, Math.min(8, length - from)) : 0
    const to = whole(from + del)
    const insert = to > from && rng.bool(0.5) ? '' : tag + rng.string(rng.int(1, 8))
    changes.push({ from, to, insert })
    pos = to + 1
  }
  return doc.edit(changes)
}

/// The rejections of a document in a comparable form.
export async function rejectionList(doc: SwarmDocument): Promise<string[]> {
  return (await doc.rejections()).map((r: RejectionEntry) => `${b4a.toString(b4a.from(r.writer), 'hex').slice(0, 12)}#${r.seq}: ${r.reason}`)
}

/// The Yjs clientID the document's Y.Doc uses right now (a private field:
/// tests check it equals the clientID derived from the writer key).
export function liveClientId(doc: SwarmDocument): number {
  return (doc as unknown as { ydoc: { clientID: number } }).ydoc.clientID
}

/// The text the document's Y.Doc holds (must always equal doc.text).
export function yText(doc: SwarmDocument): string {
  const inner = doc as unknown as { ytext: { toString(): string }; flushLocal(): void }
  inner.flushLocal() // local edits reach the Y.Doc on the next turn otherwise
  return inner.ytext.toString()
}

/// Three linked peers: a (owner), b and c (writers).
export async function trio(): Promise<{ a: TestDoc; b: TestDoc; c: TestDoc; all: SwarmDocument[] }> {
  const a = await createDoc()
  const b = await joinDoc(a.doc)
  const c = await joinDoc(a.doc)
  connectAll([a.doc, b.doc, c.doc])
  await addWriter(a.doc, b.doc)
  await addWriter(a.doc, c.doc)
  return { a, b, c, all: [a.doc, b.doc, c.doc] }
}
