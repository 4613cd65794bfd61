import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream'
import { onTestFinished } from 'vitest'
import { SwarmDocument } from '../../src/sync/document.js'
import { tmpDir } from './tmp.js'

export interface TestDoc {
  doc: SwarmDocument
  dir: string
  reopen(): Promise<TestDoc>
}

/// A document on its own Corestore in a temporary directory, closed after the test.
export async function createDoc(opts: { key?: Uint8Array | null; encryptionKey?: Uint8Array; dir?: string; ackInterval?: number } = {}): Promise<TestDoc> {
  const dir = opts.dir ?? (await tmpDir())
  const encryptionKey = opts.encryptionKey ?? randomBytes(32)
  const store = new Corestore(dir)
  const doc = new SwarmDocument(store.namespace('doc'), { key: opts.key ?? null, encryptionKey, ackInterval: opts.ackInterval ?? 0 })
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
      return createDoc({ key, encryptionKey, dir, ackInterval: opts.ackInterval ?? 0 })
    }
  }
}

/// A peer of `origin`'s document on a fresh Corestore.
export async function joinDoc(origin: SwarmDocument, opts: { ackInterval?: number } = {}): Promise<TestDoc> {
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

/// Poll until `check` holds or `ms` pass; fails with `what`.
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/// Wait until every document has the same text, updating each along the way.
export async function converge(docs: SwarmDocument[], ms = 30_000): Promise<void> {
  await eventually(async () => {
    for (const d of docs) await d.update()
    const first = docs[0]!.text.toString()
    return docs.every((d) => d.text.toString() === first)
  }, 'documents to converge', ms)
}
