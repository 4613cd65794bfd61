// A file mirror starting again after the daemon stopped (or was killed) while
// the file, the document, or both changed: a real document on disk, a real
// file, the FileMirror the daemon runs, and what mirrors.json would hold.
import { describe, expect, test } from 'vitest'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FileMirror, hashText, type MirrorBase } from '../../src/daemon/mirror.js'
import type { OpenDocument } from '../../src/swarmpad.js'
import type { LibraryEntry } from '../../src/storage/library.js'
import { createDoc, eventually } from '../helpers/docs.js'
import { tmpDir } from '../helpers/tmp.js'

function opened(doc: OpenDocument['doc']): OpenDocument {
  const entry = { name: 'notes', key: doc.key.toString('hex') } as LibraryEntry
  return { entry, doc }
}

/// Run a mirror the way Mirrors does, recording what it would save.
async function runMirror(open: OpenDocument, path: string, how: 'doc' | 'resume', base: MirrorBase, order: string[] = []) {
  const record: MirrorBase = { ...base }
  const m = new FileMirror(open, path, {
    base: record,
    intend: async (hash) => {
      order.push(`intend, the file holding ${JSON.stringify(await readFile(path, 'utf8').catch(() => null))}`)
      record.pending = hash
    }
  })
  const problems: string[] = []
  m.on('problem', (msg) => problems.push(msg))
  m.on('synced', (hash, version) => {
    record.hash = hash
    record.version = version
    record.pending = null
  })
  await m.start(how)
  return { m, record, problems }
}

describe('a file mirror resuming after a restart', () => {
  test('both changed: the common text comes back from the history and both changes are kept', async () => {
    const d = await createDoc()
    const dir = await tmpDir()
    const path = join(dir, 'notes.md')
    d.doc.replaceText('one\ntwo\nthree\n')
    await d.doc.flush()
    const open = opened(d.doc)
    const first = await runMirror(open, path, 'doc', { hash: null })
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\nthree\n')
    await first.m.close()
    expect(first.record.hash).toBe(hashText('one\ntwo\nthree\n'))
    expect(first.record.version).toBe(d.doc.updateCount)

    // While the mirror is away: a line typed in the file, another in the document.
    await writeFile(path, 'zero\none\ntwo\nthree\n')
    d.doc.replaceText('one\ntwo\nthree\nfour\n')
    await d.doc.flush()

    const second = await runMirror(open, path, 'resume', first.record)
    await eventually(async () => (await readFile(path, 'utf8')) === 'zero\none\ntwo\nthree\nfour\n', 'the merged text in the file')
    expect(d.doc.text.toString()).toBe('zero\none\ntwo\nthree\nfour\n')
    expect(second.problems).toEqual([expect.stringMatching(/both changed while swarmpad was stopped; the file's change was merged \(against the document's text after \d+ updates\)/)])
    await second.m.close()
  })

  test('killed between writing the file and saving its hash: the pending hash says the file holds the document, nothing is deleted', async () => {
    const d = await createDoc()
    const dir = await tmpDir()
    const path = join(dir, 'notes.md')
    d.doc.replaceText('a\n')
    await d.doc.flush()
    const open = opened(d.doc)
    await writeFile(path, 'old\n')
    const order: string[] = []
    const first = await runMirror(open, path, 'doc', { hash: null }, order)
    // The intent is recorded while the file does not hold the text yet.
    expect(order).toEqual(['intend, the file holding "old\\n"'])
    const saved = { ...first.record }
    d.doc.replaceText('a\nb\n')
    await eventually(async () => (await readFile(path, 'utf8')) === 'a\nb\n', 'the edit in the file')
    await first.m.close()
    // What mirrors.json held if the daemon died right after that write: the
    // old hash, and the pending hash of what it wrote (no version, so only
    // the pending hash can tell).
    const killed: MirrorBase = { hash: saved.hash!, version: null, pending: hashText('a\nb\n') }
    d.doc.replaceText('a\nb\nc\n')
    await d.doc.flush()
    const second = await runMirror(open, path, 'resume', killed)
    await eventually(async () => (await readFile(path, 'utf8')) === 'a\nb\nc\n', 'the document in the file')
    expect(d.doc.text.toString()).toBe('a\nb\nc\n')
    expect(second.problems).toEqual([])
    expect((await readdir(dir)).filter((f) => f.includes('.conflict-'))).toEqual([])
    await second.m.close()

    // Positive control: without the pending hash the same state is two
    // changes with no known common text, kept as a conflict copy.
    await writeFile(path, 'a\nb\n')
    const third = await runMirror(open, path, 'resume', { hash: saved.hash!, version: null })
    await eventually(async () => (await readFile(path, 'utf8')) === 'a\nb\nc\n', 'the document in the file')
    expect(third.problems).toEqual([expect.stringMatching(/common text is not known/)])
    expect((await readdir(dir)).filter((f) => f.includes('.conflict-'))).toHaveLength(1)
    await third.m.close()
  })

  test('with the update count recorded, a file holding an earlier text of the document gets the document, and a save on top of the newest text is not doubled', async () => {
    const d = await createDoc()
    const dir = await tmpDir()
    const path = join(dir, 'notes.md')
    d.doc.replaceText('x\n')
    await d.doc.flush()
    const open = opened(d.doc)
    const first = await runMirror(open, path, 'doc', { hash: null })
    await first.m.close()
    const record = { hash: first.record.hash, version: first.record.version ?? null }
    // The document moves on twice; the file holds the middle text (as if
    // written by swarmpad while its hash was not saved yet).
    d.doc.replaceText('x\ny\n')
    await d.doc.flush()
    d.doc.replaceText('x\ny\nz\n')
    await d.doc.flush()
    await writeFile(path, 'x\ny\n')
    const second = await runMirror(open, path, 'resume', record)
    await eventually(async () => (await readFile(path, 'utf8')) === 'x\ny\nz\n', 'the document in the file')
    expect(d.doc.text.toString()).toBe('x\ny\nz\n')
    expect(second.problems).toEqual([])
    await second.m.close()

    // A file saved on top of the newest text while stopped: only that change goes in.
    await writeFile(path, 'x\ny\nz\nback\n')
    const third = await runMirror(open, path, 'resume', record)
    await eventually(async () => d.doc.text.toString() === 'x\ny\nz\nback\n', 'the save in the document')
    expect(await readFile(path, 'utf8')).toBe('x\ny\nz\nback\n')
    await third.m.close()
  })

  test('both changed and no common text is known: the document keeps its text and the file is kept beside it', async () => {
    const d = await createDoc()
    const dir = await tmpDir()
    const path = join(dir, 'notes.md')
    d.doc.replaceText('from the document\n')
    await d.doc.flush()
    await writeFile(path, 'typed in the file\n', { mode: 0o640 })
    // A record of an earlier release: a hash, no version.
    const m = await runMirror(opened(d.doc), path, 'resume', { hash: hashText('something else\n') })
    await eventually(async () => (await readFile(path, 'utf8')) === 'from the document\n', 'the document in the file')
    expect(d.doc.text.toString()).toBe('from the document\n')
    const copies = (await readdir(dir)).filter((f) => f.startsWith('notes.md.conflict-'))
    expect(copies).toHaveLength(1)
    expect(await readFile(join(dir, copies[0]!), 'utf8')).toBe('typed in the file\n')
    expect(m.problems).toEqual([expect.stringContaining(`the file's text was saved as ${join(dir, copies[0]!)}`)])
    await m.m.close()
  })
})
