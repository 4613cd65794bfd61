// Live editing in real Neovim with Teamtype's unchanged plugin
// (../shared/clients/teamtype-nvim), configured as the README says:
// `cmd = { 'swarmpad', 'client' }`, `root_markers = '.swarmpad'`. Two devices
// on a loopback testnet (test/helpers/cli.ts), each with its own Neovim
// (headless, driven over its RPC socket: keys are typed with feedkeys, as a
// user types them). Skips with a reason when nvim or ../shared is missing.
import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BIN, cliNet, logTail, waitFor, type CliDevice } from '../helpers/cli.js'
import { Neovim, neovimMissing, swarmpadShim } from '../helpers/nvim.js'
import { browserUnavailable, launchBrowser, pageIdle, pageText } from '../helpers/browser.js'

const missing = neovimMissing()
if (missing !== null) console.log(`test/e2e/neovim.test.ts skipped: ${missing}`)

/// Wait until `read` gives `expected`; on timeout say what it gave.
async function until(read: () => Promise<string>, expected: string, what: string, ms = 30_000, extra: () => Promise<string> = async () => ''): Promise<void> {
  let last = ''
  await waitFor(async () => (last = await read()) === expected, what, ms).catch(async (err: Error) => {
    throw new Error(`${err.message}\n  expected ${JSON.stringify(expected.slice(0, 300))}\n  got      ${JSON.stringify(last.slice(0, 300))}${await extra()}`)
  })
}

/// The pid of the `swarmpad client` Neovim started (from /proc: no `ps` needed).
function clientPid(nvim: Neovim): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (ppid === nvim.child.pid && args.includes('client')) return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  return null
}

async function linkedFile(device: CliDevice, doc: string, text: string | null): Promise<string> {
  const dir = join(device.home, '..', 'project')
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'notes.md')
  if (text !== null) await writeFile(file, text)
  await device.ok(['link', doc, file])
  return file
}

describe.skipIf(missing !== null)('Neovim with the Teamtype plugin', () => {
  it('two devices: typing both ways live, concurrent typing converges, remote cursors with names, emoji/CJK/combining positions, a 100 KB paste, the page of the other device live both ways', async () => {
    const net = await cliNet()
    const ann = await net.device()
    const bob = await net.device()
    await ann.ok(['whoami', '--name', 'Ann'])
    await bob.ok(['whoami', '--name', 'Bob'])
    await ann.ok(['new', 'notes', '--stdin'], { input: 'first line\nsecond line\n' })
    await bob.ok(['join', (await ann.ok(['invite', 'notes'])).trim(), 'notes'])
    await until(() => bob.ok(['cat', 'notes']), 'first line\nsecond line\n', "the text on Bob's device", 60_000)
    const bin = await swarmpadShim(BIN)
    // Ann's file holds an older text: opening it makes the buffer the
    // document (never the other way). Bob's does not exist yet.
    const annFile = await linkedFile(ann, 'notes', 'first line\n')
    const bobFile = await linkedFile(bob, 'notes', null)
    const a = await Neovim.start({ file: annFile, env: ann.env, binDir: bin })
    const b = await Neovim.start({ file: bobFile, env: bob.env, binDir: bin })
    const debug = async () => `\n--- ann nvim ---\n${a.stderr.join('').slice(-1500)}\n--- bob nvim ---\n${b.stderr.join('').slice(-1500)}${await logTail(ann.home)}${await logTail(bob.home)}`
    await until(() => a.text(), 'first line\nsecond line\n', "Ann's buffer: the document", 30_000, debug)
    await until(() => b.text(), 'first line\nsecond line\n', "Bob's buffer: the document", 30_000, debug)
    expect(await readFile(annFile, 'utf8')).toBe('first line\n') // the plugin never writes; nor does swarmpad

    // Ann types on line 1: Bob's buffer shows it without a reload, and the other way.
    const t0 = performance.now()
    await a.keys('ggA, typed by Ann<Esc>')
    await until(() => b.text(), 'first line, typed by Ann\nsecond line\n', "Ann's typing in Bob's Neovim", 30_000, debug)
    const aToB = performance.now() - t0
    await b.keys('GoBob writes here<Esc>')
    await until(() => a.text(), 'first line, typed by Ann\nsecond line\nBob writes here\n', "Bob's typing in Ann's Neovim", 30_000, debug)
    expect(await ann.ok(['cat', 'notes'])).toBe('first line, typed by Ann\nsecond line\nBob writes here\n')


    // Remote cursors, with the members' names, in :TeamtypeInfo. (The
    // cursor moves along its line now and then while we wait: the plugin
    // reports it on CursorMoved.)
    const cursorSeen = async (mover: Neovim, moves: string[], viewer: Neovim, pattern: RegExp, what: string) => {
      let k = 0
      let since = Date.now()
      await mover.keys(moves[0]!)
      await waitFor(async () => {
        if (pattern.test(await viewer.info())) return true
        if (Date.now() - since > 3000) {
          since = Date.now()
          await mover.keys(moves[++k % moves.length]!)
        }
        return false
      }, what, 30_000).catch(async (e: Error) => {
        throw new Error(`${e.message}: ${await viewer.info()}${await debug()}`)
      })
    }
    await cursorSeen(b, ['gg0ll', 'gg0l'], a, /Bob @ .*notes\.md:1/, "Bob's cursor in Ann's :TeamtypeInfo")
    // (Line 3 by number: after a remote insertion at the very end Neovim may hold an empty last line with 'noeol'.)
    await cursorSeen(a, ['3G0', '3G$'], b, /Ann @ .*notes\.md:3/, "Ann's cursor in Bob's :TeamtypeInfo")

    // Emoji (surrogate pairs, a ZWJ sequence), CJK and combining marks:
    // positions are code points; each side types after the other's text.
    await a.keys('ggo😀 漢字 e\u0301 👩‍👩‍👧<Esc>')
    const mixed = 'first line, typed by Ann\n😀 漢字 e\u0301 👩‍👩‍👧\nsecond line\nBob writes here\n'
    await until(() => b.text(), mixed, 'the mixed line in Bob\'s Neovim', 30_000, debug)
    await b.keys('2G$a!<Esc>2G0f漢i[<Esc>')
    const mixed2 = 'first line, typed by Ann\n😀 [漢字 e\u0301 👩‍👩‍👧!\nsecond line\nBob writes here\n'
    await until(() => a.text(), mixed2, "Bob's edits around the emoji in Ann's Neovim", 30_000, debug)
    expect(await bob.ok(['cat', 'notes'])).toBe(mixed2)

    // Concurrent typing: both type at once, keystroke by keystroke.
    await Promise.all([a.keys('gg'), b.keys('G')])
    const typing = (n: Neovim, word: string, count: number) =>
      (async () => {
        for (let i = 0; i < count; i++) await n.keys(i % 7 === 3 ? `o${word}${i}<Esc>` : `A${word}${i} <Esc>`)
      })()
    await Promise.all([typing(a, 'ä', 25), typing(b, '🎉', 25)])
    let final = ''
    await waitFor(
      async () => {
        const [ta, tb, ca, cb] = await Promise.all([a.text(), b.text(), ann.ok(['cat', 'notes']), bob.ok(['cat', 'notes'])])
        final = ta
        return ta === tb && tb === ca && ca === cb
      },
      'both buffers and both daemons to hold the same text',
      60_000
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\nann nvim ${JSON.stringify(await a.text())}\nbob nvim ${JSON.stringify(await b.text())}\nann ${JSON.stringify(await ann.ok(['cat', 'notes']))}\nbob ${JSON.stringify(await bob.ok(['cat', 'notes']))}${await debug()}`)
    })
    for (let i = 0; i < 25; i++) {
      expect(final).toContain(`ä${i}`)
      expect(final).toContain(`🎉${i}`)
    }

    // A 100 KB paste on Bob's side.
    const paste = Array.from({ length: 2000 }, (_, i) => `${i} pasted 漢字 😀 e\u0301 ${'x'.repeat(30)}`).join('\n') + '\n'
    expect(Buffer.byteLength(paste)).toBeGreaterThan(100_000)
    await b.keys('G')
    await b.request('nvim_paste', paste, false, -1)
    const afterPaste = await b.text()
    expect(afterPaste).toContain(paste.slice(0, -1))
    await until(() => a.text(), afterPaste, "the paste in Ann's Neovim", 60_000, debug)
    await until(() => ann.ok(['cat', 'notes']), afterPaste, "the paste in Ann's daemon", 30_000)
    await until(() => bob.ok(['cat', 'notes']), afterPaste, "the paste in Bob's daemon", 30_000)
    console.log(`neovim: Ann's keystrokes in Bob's Neovim after ${aToB.toFixed(0)} ms (first edit, cursors and all); final text ${final.length} units before the paste`)
    // The page on Bob's device (Chromium, logged in as `swarmpad open` does):
    // Ann's Neovim typing appears there without a reload, and the page's
    // typing appears in both Neovims.
    if (browserUnavailable() === null) {
      const base = await ann.ok(['cat', 'notes'])
      await until(() => bob.ok(['cat', 'notes']), base, "Bob's device to have Ann's text", 30_000, debug)
      const login = await bob.api<{ url: string }>('POST', '/api/login', { doc: 'notes' })
      const page = await (await launchBrowser('nvim-page')).newPage()
      await page.goto(login.url)
      await page.waitForURL(/\/doc\/notes$/)
      await pageIdle(page)
      expect(await pageText(page)).toBe(base)
      await a.keys('ggIAnn in Neovim: <Esc>')
      await until(() => pageText(page), 'Ann in Neovim: ' + base, "Ann's Neovim typing in Bob's page", 30_000, debug)
      await page.click('.cm-content')
      await page.keyboard.press('Control+Home')
      await page.keyboard.type('page: ')
      await pageIdle(page)
      await until(() => a.text(), 'page: Ann in Neovim: ' + base, "the page's typing in Ann's Neovim", 30_000, debug)
      await until(() => b.text(), 'page: Ann in Neovim: ' + base, "the page's typing in Bob's Neovim", 30_000, debug)
      await page.close()
    }
    await a.quit()
    await b.quit()
  }, 240_000)

  it("ownership, the client killed and restarted, the daemon stopped and killed while Neovim is open: nothing typed is lost", async () => {
    const net = await cliNet()
    const ann = await net.device()
    await ann.ok(['new', 'notes', '--stdin'], { input: 'one\n' })
    const file = await linkedFile(ann, 'notes', 'one\n')
    // The file is also synced: the mirror keeps it equal to the document,
    // except while an editor holds it open.
    await ann.ok(['sync', 'notes', file])
    const bin = await swarmpadShim(BIN)
    const n = await Neovim.start({ file, env: ann.env, binDir: bin })
    const debug = async () => `\n--- nvim ---\n${n.stderr.join('').slice(-2000)}${await logTail(ann.home, 40)}`
    await until(() => n.text(), 'one\n', 'the buffer', 30_000, debug)
    await n.keys('Atwo<Esc>')
    await until(() => ann.ok(['cat', 'notes']), 'onetwo\n', 'typing in the document', 30_000, debug)
    // While Neovim holds the file, swarmpad does not write it.
    await new Promise((r) => setTimeout(r, 400))
    expect(await readFile(file, 'utf8')).toBe('one\n')

    // The client dies: the file goes back to the mirror, which writes it.
    const pid = clientPid(n)
    expect(pid).not.toBeNull()
    process.kill(pid!, 'SIGKILL')
    await until(() => readFile(file, 'utf8'), 'onetwo\n', 'the mirror taking the file over again', 30_000, debug)
    // Reopening the file starts a new client (the plugin does on BufRead).
    await n.request('nvim_command', `bwipeout! | edit ${file}`)
    await until(() => n.text(), 'onetwo\n', 'the buffer after the client restarted', 30_000, debug)
    await n.keys('othree<Esc>')
    await until(() => ann.ok(['cat', 'notes']), 'onetwo\nthree\n', 'typing through the new client', 30_000, debug)

    // `swarmpad stop` while Neovim is open: the client keeps what is typed,
    // starts the daemon again on the next keystroke and resumes the file.
    await ann.ok(['stop'])
    await n.keys('ofour<Esc>')
    await n.keys('ofive<Esc>')
    await until(() => n.text(), 'onetwo\nthree\nfour\nfive\n', 'the buffer while the daemon is away')
    await until(() => ann.ok(['cat', 'notes']), 'onetwo\nthree\nfour\nfive\n', 'what was typed while the daemon was stopped', 45_000, debug)
    await n.keys('osix<Esc>')
    await until(() => ann.ok(['cat', 'notes']), 'onetwo\nthree\nfour\nfive\nsix\n', 'typing after the restart', 30_000, debug)

    // The daemon killed (SIGKILL) while Neovim is open: what it had saved is
    // there; what is typed next arrives through the next daemon.
    const info = await ann.daemon()
    process.kill(info!.pid, 'SIGKILL')
    await waitFor(async () => {
      try {
        process.kill(info!.pid, 0)
        return false
      } catch {
        return true
      }
    }, 'the daemon to die')
    await n.keys('oseven<Esc>')
    await until(() => ann.ok(['cat', 'notes']), 'onetwo\nthree\nfour\nfive\nsix\nseven\n', 'typing after the daemon was killed', 45_000, debug)
    // A remote change (here: `swarmpad write`) still reaches the buffer.
    await ann.ok(['write', 'notes'], { input: 'zero\nonetwo\nthree\nfour\nfive\nsix\nseven\n' })
    await until(() => n.text(), 'zero\nonetwo\nthree\nfour\nfive\nsix\nseven\n', 'a write in the buffer after the restarts', 30_000, debug)
    // Closing Neovim gives the file back to the mirror.
    await n.quit()
    await until(() => readFile(file, 'utf8'), 'zero\nonetwo\nthree\nfour\nfive\nsix\nseven\n', 'the file after Neovim quit', 30_000, debug)
  }, 180_000)
})
