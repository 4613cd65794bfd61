import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '../helpers/cli.js'
import { InstalledNet, type Device } from './harness.js'
import { Terminal } from './terminal.js'

// `swarmpad edit` of the installed command with real vim and nano, driven
// through tmux like a person at a terminal: Bob edits while Ann (another
// device) changes a line; Bob saves without ever having seen her change.
// Nothing either typed may be lost, and the editor must not warn that the
// file changed under it.

const START = 'line one\nline two\nline three\n'
const ANN = 'line one\nline two (Ann)\nline three\n'

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const missing = ['tmux', 'vim', 'nano'].filter((c) => !have(c))

describe.skipIf(missing.length > 0 && !process.env.CI)('acceptance: swarmpad edit in vim and nano through tmux', () => {
  const net = new InstalledNet()
  const terminals: Terminal[] = []

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (apt-get install ${missing.join(' ')}; .ci/run does it)`)
    await net.ready()
  }, 300_000)
  afterAll(async () => {
    for (const t of terminals) t.close()
    await net.close()
  }, 60_000)

  /// Ann owns "plan.md", Bob joined; Bob's editor shows the starting text.
  async function session(editor: string, name: string): Promise<{ ann: Device; bob: Device; term: Terminal }> {
    const [ann, bob] = [await net.device(), await net.device()]
    await net.share(ann, [bob], 'plan.md', START)
    expect(await net.converge([ann, bob], 'plan.md')).toBe(START)
    const term = new Terminal(bob.dir, name)
    terminals.push(term)
    term.start(`swarmpad edit plan.md`, { ...bob.env, PATH: `${join(net.bin, '..')}:/usr/bin:/bin`, TERM: 'xterm-256color', EDITOR: editor, LANG: 'C.UTF-8' })
    await term.waitFor(/line three/, `${editor} to show the document`)
    // Ann changes line two; it reaches Bob's device while his editor has the old text.
    await ann.ok(['write', 'plan.md', '-'], ANN)
    await waitFor(async () => (await bob.ok(['cat', 'plan.md'])) === ANN, "Ann's change on Bob's device")
    await new Promise((r) => setTimeout(r, 300))
    return { ann, bob, term }
  }

  function editFile(bob: Device): string {
    const dir = readdirSync(bob.dir).find((f) => f.startsWith('swarmpad-edit-'))
    if (dir === undefined) throw new Error('no edit session file')
    return join(bob.dir, dir, 'plan.md')
  }

  it('vim (no autoread): a save after a remote edit keeps it, without the "changed since reading it" warning', async () => {
    const { ann, bob, term } = await session('vim', 'vim')
    expect(term.screen()).not.toMatch(/line two \(Ann\)/) // the editor's buffer never showed it
    term.keys('G', 'o', { text: "Bob's line" }, 'Escape', { text: ':w' }, 'Enter')
    const expected = ANN + "Bob's line\n"
    await waitFor(async () => (await ann.ok(['cat', 'plan.md'])) === expected, "Bob's save on Ann's device")
    const screen = term.screen()
    expect(screen).not.toMatch(/changed since reading it|W11/)
    expect(screen).toMatch(/plan\.md" .*written/)
    // Positive control: vim does warn when the file really changes behind it.
    await appendFile(editFile(bob), 'written behind vim\n')
    await waitFor(async () => (await bob.ok(['cat', 'plan.md'])) === expected + 'written behind vim\n', 'the outside write in the document')
    term.keys('o', { text: 'second' }, 'Escape', { text: ':w' }, 'Enter')
    await term.waitFor(/changed since reading it/, "vim's warning (positive control)")
    term.keys('n', 'Enter', { text: ':q!' }, 'Enter')
    const end = await term.waitFor(/\[exit \d+\]/, 'swarmpad edit to end')
    expect(end).toMatch(/plan\.md: saved; others edited it meanwhile and their edits are kept/)
    expect(end).toMatch(/\[exit 0\]/)
    const final = expected + 'written behind vim\n'
    expect(await net.converge([ann, bob], 'plan.md')).toBe(final)
  }, 180_000)

  it('vim with autoread, saving by rename (backupcopy=no): the same', async () => {
    const { ann, bob, term } = await session(`vim -c 'set autoread backupcopy=no'`, 'vimrename')
    term.keys('G', 'o', { text: "Bob's line" }, 'Escape', { text: ':wq' }, 'Enter')
    const end = await term.waitFor(/\[exit \d+\]/, 'swarmpad edit to end')
    expect(end).not.toMatch(/changed since reading it|W11/)
    expect(end).toMatch(/\[exit 0\]/)
    expect(await net.converge([ann, bob], 'plan.md')).toBe(ANN + "Bob's line\n")
  }, 180_000)

  it('nano: a save after a remote edit keeps it, without "modified since you opened it"', async () => {
    const { ann, bob, term } = await session('nano', 'nano')
    term.keys({ text: "Bob's line" }, 'Enter', 'C-o')
    await term.waitFor(/File Name to Write/, "nano's save prompt")
    term.keys('Enter')
    const expected = "Bob's line\n" + ANN
    await waitFor(async () => (await ann.ok(['cat', 'plan.md'])) === expected, "Bob's save on Ann's device")
    expect(term.screen()).not.toMatch(/modified since|changed on disk|Save anyway/i)
    term.keys('C-x')
    const end = await term.waitFor(/\[exit \d+\]/, 'swarmpad edit to end')
    expect(end).toMatch(/\[exit 0\]/)
    expect(await net.converge([ann, bob], 'plan.md')).toBe(expected)
  }, 180_000)
})
