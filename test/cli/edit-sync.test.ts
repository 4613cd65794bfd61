// `swarmpad edit` with a scripted $EDITOR, and `swarmpad sync` / `unsync`.
import { describe, expect, it } from 'vitest'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, cliNet, exists, waitFor } from '../helpers/cli.js'

/// A stand-in for vi: a node script run as $EDITOR FILE.
async function editorScript(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(
    path,
    [
      "import { readFileSync, writeFileSync, renameSync } from 'node:fs'",
      "import { execFileSync } from 'node:child_process'",
      'const file = process.argv[2]',
      `const swarmpad = (...args) => execFileSync(process.execPath, [${JSON.stringify(BIN)}, ...args], { encoding: 'utf8' })`,
      'const read = () => readFileSync(file, "utf8")',
      'const sleep = (ms) => new Promise((r) => setTimeout(r, ms))',
      'async function until(check, what) { for (let i = 0; i < 300; i++) { if (check()) return; await sleep(50) } throw new Error("editor script: timed out waiting for " + what) }',
      body
    ].join('\n')
  )
  return path
}

describe('swarmpad edit', () => {
  it('each save goes in as a minimal diff merged over remote edits, which never touch the file while the editor has it', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'notes.md', '--stdin'], { input: 'hello\n' })
    const dir = join(d.home, '..')
    const seen = join(dir, 'seen.txt')
    // Behaves like vim without autoread: it keeps its buffer and saves it
    // whole, never re-reading the file.
    const editor = await editorScript(
      dir,
      'editor.mjs',
      `
let buffer = read()
writeFileSync(${JSON.stringify(seen)}, file + '\\n' + buffer)
buffer += 'world\\n'
writeFileSync(file, buffer)                                   // save 1
await until(() => swarmpad('cat', 'notes.md') === 'hello\\nworld\\n', 'save 1 in the document')
// A collaborator changes the line this editor still shows as "hello".
execFileSync(process.execPath, [${JSON.stringify(BIN)}, 'write', 'notes.md'], { input: 'HELLO\\nworld\\n' })
await sleep(400)
if (read() !== buffer) throw new Error('the file changed behind the editor: ' + JSON.stringify(read()))
// save 2, the way vim does it with backupcopy=no: a new file renamed over the old one
writeFileSync(file + '.tmp', buffer + 'bye\\n')
renameSync(file + '.tmp', file)
`
    )
    const r = await d.run(['edit', 'notes.md'], { env: { EDITOR: `node ${editor}` } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('notes.md: saved; others edited it meanwhile and their edits are kept (`swarmpad cat notes.md`)\n')
    // The collaborator's change survives the save of a buffer that never showed it.
    expect(await d.ok(['cat', 'notes.md'])).toBe('HELLO\nworld\nbye\n')
    const [path, initial] = (await readFile(seen, 'utf8')).split('\n')
    expect(initial).toBe('hello')
    expect(path!.endsWith('/notes.md')).toBe(true) // the extension is kept for the editor's highlighting
    expect(await exists(path!)).toBe(false) // the temporary file is gone
    // Minimal diffs: the history shows small changes, never a whole-text replacement.
    const log = JSON.parse(await d.ok(['log', 'notes.md', '--json'])) as { entries: Array<{ inserted: number; deleted: number }> }
    expect(log.entries.map((e) => [e.inserted, e.deleted])).toEqual([
      [6, 0],
      [6, 0],
      [5, 5],
      [4, 0]
    ])
    // Positive control: an edit session without remote edits says just "saved".
    const plain = await editorScript(dir, 'plain.mjs', `writeFileSync(file, read() + 'end\\n')`)
    const p = await d.run(['edit', 'notes.md'], { env: { EDITOR: `node ${plain}` } })
    expect(p.stdout).toBe('notes.md: saved\n')
    expect(await d.ok(['cat', 'notes.md'])).toBe('HELLO\nworld\nbye\nend\n')
  })

  it('$VISUAL wins over $EDITOR; an editor that fails, or a last save that is not text, is reported and nothing is lost', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc', '--stdin'], { input: 'one\n' })
    const dir = join(d.home, '..')
    const failing = await editorScript(dir, 'failing.mjs', `writeFileSync(file, 'one\\ntwo\\n'); process.exit(3)`)
    const unused = await editorScript(dir, 'unused.mjs', `process.exit(9)`)
    const r = await d.run(['edit', 'doc'], { env: { VISUAL: `node ${failing}`, EDITOR: `node ${unused}` } })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^swarmpad: the editor "node .*failing\.mjs" exited with status 3; what it saved is in "doc"\n$/)
    expect(await d.ok(['cat', 'doc'])).toBe('one\ntwo\n')

    const binary = await editorScript(dir, 'binary.mjs', `writeFileSync(file, Buffer.from([0x6f, 0xff, 0x0a]))`)
    const b = await d.run(['edit', 'doc'], { env: { EDITOR: `node ${binary}` } })
    expect(b.code).toBe(1)
    const kept = /the file is kept at (\S+)\n$/.exec(b.stderr)?.[1]
    expect(b.stderr).toMatch(/^swarmpad: your last save was not stored: .*is not UTF-8 text \(invalid byte at offset 1\).*; the file is kept at \S+\n$/)
    expect(await readFile(kept!)).toEqual(Buffer.from([0x6f, 0xff, 0x0a]))
    expect(await d.ok(['cat', 'doc'])).toBe('one\ntwo\n')

    const missing = await d.run(['edit', 'doc'], { env: { EDITOR: 'no-such-editor-here' } })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/the editor "no-such-editor-here" could not be started \(set \$VISUAL or \$EDITOR\)/)
  })
})

describe('swarmpad sync / unsync', () => {
  it('mirrors a file and a document both ways, survives a daemon restart, and stops on unsync', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'notes', '--stdin'], { input: 'a\n' })
    const file = join(d.home, '..', 'notes.txt')

    // A missing file is created from the document.
    expect(await d.ok(['sync', 'notes', file])).toBe(`syncing notes <-> ${file}\n`)
    expect(await readFile(file, 'utf8')).toBe('a\n')
    // File -> document.
    await writeFile(file, 'a\nb\n')
    await waitFor(async () => (await d.ok(['cat', 'notes'])) === 'a\nb\n', 'the file edit in the document')
    // Document -> file.
    await d.ok(['write', 'notes'], { input: 'x\na\nb\n' })
    await waitFor(async () => (await readFile(file, 'utf8')) === 'x\na\nb\n', 'the document edit in the file')
    // An editor's atomic save (new file renamed over the old one).
    await writeFile(`${file}.swp`, 'x\na\nb\nc\n')
    await rename(`${file}.swp`, file)
    await waitFor(async () => (await d.ok(['cat', 'notes'])) === 'x\na\nb\nc\n', 'the renamed file in the document')
    expect(await d.ok(['status'])).toContain(`synced files:\n  notes <-> ${file}\n`)
    const mirrors = JSON.parse(await d.ok(['status', '--json'])) as { mirrors: Array<{ doc: string; path: string; active: boolean }> }
    expect(mirrors.mirrors).toEqual([expect.objectContaining({ doc: 'notes', path: file, active: true, problem: null })])

    // Edited while the daemon is stopped: merged in when it starts again.
    await d.ok(['stop'])
    await writeFile(file, 'x\na\nb\nc\nd\n')
    expect(await d.ok(['cat', 'notes'])).toMatch(/^x\na\nb\nc\n(d\n)?$/)
    await waitFor(async () => (await d.ok(['cat', 'notes'])) === 'x\na\nb\nc\nd\n', 'the offline file edit in the document')
    // And the mirror still runs the other way.
    await d.ok(['write', 'notes'], { input: 'x\na\nb\nc\nd\ne\n' })
    await waitFor(async () => (await readFile(file, 'utf8')) === 'x\na\nb\nc\nd\ne\n', 'the document edit in the file after the restart')

    // A second sync of the same pair is fine; the same file for another document is not.
    await d.ok(['sync', 'notes', file])
    await d.ok(['new', 'other'])
    const taken = await d.run(['sync', 'other', file])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toMatch(/notes\.txt is already synced with another document; `swarmpad unsync` it first/)

    expect(await d.ok(['unsync', 'notes', file])).toBe(`stopped syncing notes <-> ${file}\n`)
    await writeFile(file, 'changed after unsync\n')
    await d.ok(['write', 'notes'], { input: 'document after unsync\n' })
    await new Promise((r) => setTimeout(r, 500))
    expect(await readFile(file, 'utf8')).toBe('changed after unsync\n')
    expect(await d.ok(['cat', 'notes'])).toBe('document after unsync\n')
    expect(await d.ok(['status'])).not.toContain('synced files')
  })

  it('a stale copy written over the file (an editor that never reloaded, a copy put back) keeps the remote edits it never had', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'plan', '--stdin'], { input: 'one\ntwo\nthree\n' })
    const file = join(d.home, '..', 'plan.txt')
    await d.ok(['sync', 'plan', file])
    const stale = await readFile(file, 'utf8')
    expect(stale).toBe('one\ntwo\nthree\n')
    // A collaborator changes line two; the mirror writes it to the file.
    await d.ok(['write', 'plan'], { input: 'one\nTWO (Ann)\nthree\n' })
    await waitFor(async () => (await readFile(file, 'utf8')) === 'one\nTWO (Ann)\nthree\n', 'the remote edit in the file')
    // A program that read the file before that writes its old copy plus a line.
    await new Promise((r) => setTimeout(r, 300))
    await writeFile(file, stale + 'four\n')
    await waitFor(async () => (await d.ok(['cat', 'plan'])) === 'one\nTWO (Ann)\nthree\nfour\n', 'the stale save merged over the remote edit')
    // The file catches up with the document.
    await waitFor(async () => (await readFile(file, 'utf8')) === 'one\nTWO (Ann)\nthree\nfour\n', 'the merged text in the file')
    // A formatter that read the current text: its change goes in as it is.
    await new Promise((r) => setTimeout(r, 300))
    await writeFile(file, 'One\nTWO (Ann)\nthree\nfour\n')
    await waitFor(async () => (await d.ok(['cat', 'plan'])) === 'One\nTWO (Ann)\nthree\nfour\n', 'the formatter edit in the document')
  })

  it('--from-file and --from-doc choose which side wins when both have text', async () => {
    const net = await cliNet()
    const d = await net.device()
    const dir = join(d.home, '..')
    await d.ok(['new', 'one', '--stdin'], { input: 'doc one\n' })
    await d.ok(['new', 'two', '--stdin'], { input: 'doc two\n' })
    await writeFile(join(dir, 'one.txt'), 'file one\n')
    await writeFile(join(dir, 'two.txt'), 'file two\n')
    await d.ok(['sync', 'one', join(dir, 'one.txt'), '--from-file'])
    await d.ok(['sync', 'two', join(dir, 'two.txt'), '--from-doc'])
    expect(await d.ok(['cat', 'one'])).toBe('file one\n')
    expect(await readFile(join(dir, 'two.txt'), 'utf8')).toBe('doc two\n')
    // Relative paths are resolved where the command runs.
    await writeFile(join(dir, 'three.txt'), '')
    await d.ok(['new', 'three', '--stdin'], { input: 'three\n' })
    await d.ok(['sync', 'three', 'three.txt'], { cwd: dir })
    expect(await readFile(join(dir, 'three.txt'), 'utf8')).toBe('three\n')
  })
})
