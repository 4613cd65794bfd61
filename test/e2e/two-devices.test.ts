// e2e/browser (TESTING.md 5.1, issue 6): two devices, each a real `swarmpad
// daemon` process on one loopback testnet, each with the editor page in
// Debian's Chromium. Concurrent typing and a 100 KB paste converge in both
// pages and both daemons; the other member's cursor and name show; undo
// takes back only one's own edits; reload keeps the text; a daemon killed
// with SIGKILL and restarted loses nothing the page had typed; the history
// slider shows an earlier text and restore works. It also measures the time
// from a keystroke in one page to the character showing in the other.
import { describe, expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { Swarmpad } from '../../src/swarmpad.js'
import { connect, eventually } from '../helpers/docs.js'
import { tmpDir } from '../helpers/tmp.js'
import { browserUnavailable, launchBrowser, pageIdle, pageText, saveScreenshots } from '../helpers/browser.js'
import { ensureBuilt, openDocPage, startDaemon, type DaemonProcess } from './daemon.js'
import { loopbackTestnet } from '../helpers/testnet.js'

const skip = browserUnavailable()
if (skip) console.warn(`skipping two-device browser test: ${skip}`)

const DOC = 'notes.md'

/// Two storage roots holding one document: A owns it (Alice), B is a writer (Bob).
async function prepareHomes(): Promise<{ homeA: string; homeB: string }> {
  const homeA = await tmpDir('swarmpad-e2e-a-')
  const homeB = await tmpDir('swarmpad-e2e-b-')
  const a = new Swarmpad({ home: homeA })
  const b = new Swarmpad({ home: homeB })
  await a.ready()
  await b.ready()
  try {
    const { doc } = await a.create(DOC, { text: '# Shared notes\n\n## Agenda\n\n## Actions\n' })
    await doc.setProfile({ name: 'Alice', color: '#2f6fde' })
    await b.addDocument({ name: DOC, key: doc.key, encryptionKey: doc.encryptionKey, role: 'writer' })
    const { doc: copy } = await b.open(DOC)
    await doc.addMember(copy.writerKey, 'writer')
    const stop = connect(doc, copy)
    await eventually(async () => {
      await copy.update()
      return copy.writable
    }, 'B to become a writer')
    await copy.setProfile({ name: 'Bob', color: '#e6194b' })
    await eventually(async () => {
      await doc.update()
      return (await doc.members()).some((m) => m.name === 'Bob') && copy.text.toString() === doc.text.toString()
    }, 'A to see Bob')
    stop()
  } finally {
    await a.close()
    await b.close()
  }
  return { homeA, homeB }
}

type Hooks = { swarmpad: { text(): string; peers(): Array<{ name: string; head: number | null }>; status(): { label: string } | null; onDocChange?: (len: number, t: number) => void } }

async function converged(pages: Page[], daemons: DaemonProcess[], what: string, ms = 60_000): Promise<string> {
  let text = ''
  await eventually(
    async () => {
      const texts = [...(await Promise.all(pages.map(pageText))), ...(await Promise.all(daemons.map((d) => d.text(DOC))))]
      text = texts[0]!
      return texts.every((t) => t === text)
    },
    what,
    ms
  )
  return text
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

describe.skipIf(skip !== null)('two devices in the browser', () => {
  test('converge, cursors, undo, reload, kill -9, history; latency', async (ctx) => {
    ensureBuilt()
    const testnet = await loopbackTestnet(3)
    const { homeA, homeB } = await prepareHomes()
    const A = await startDaemon(homeA, testnet.bootstrap)
    const B = await startDaemon(homeB, testnet.bootstrap)
    const browserA = await launchBrowser('a')
    const browserB = await launchBrowser('b')
    const pages: Array<{ name: string; page: Page }> = []
    const step = (s: string) => console.log(`[e2e] ${s}`)
    try {
      const pageA = await openDocPage(browserA, A, DOC)
      const pageB = await openDocPage(browserB, B, DOC)
      pages.push({ name: 'alice', page: pageA }, { name: 'bob', page: pageB })
      await converged([pageA, pageB], [A, B], 'the initial text on both devices')

      step('the devices see each other')
      await pageA.waitForFunction(() => /synced with 1 peer|saved on this device/.test(document.querySelector('.sp-status')?.textContent ?? ''), undefined, { timeout: 60_000 })

      step('concurrent typing at both pages, then a 100 KB paste')
      const goToLine = async (page: Page, line: number) => {
        await page.click('.cm-content')
        await page.keyboard.press('Control+Home')
        for (let i = 1; i < line; i++) await page.keyboard.press('ArrowDown')
        await page.keyboard.press('End')
      }
      await goToLine(pageA, 3)
      await goToLine(pageB, 5)
      await Promise.all([
        // (Markdown mode continues the list after Enter: no second "- ".)
        pageA.keyboard.type('\n- Alice: the launch plan for the editor page\nAlice types at the end.', { delay: 8 }),
        pageB.keyboard.type('\n- Bob: write the release notes\nBob types at the start.', { delay: 8 })
      ])
      await pageA.waitForFunction(() => [...document.querySelectorAll('.sp-remote-label')].some((e) => e.textContent === 'Bob'), undefined, { timeout: 30_000 })
      await pageB.waitForFunction(() => [...document.querySelectorAll('.sp-remote-label')].some((e) => e.textContent === 'Alice'), undefined, { timeout: 30_000 })
      if (process.env.SWARMPAD_SCREENSHOT) {
        await pageIdle(pageA)
        await pageA.setViewportSize({ width: 900, height: 420 })
        await pageA.waitForTimeout(800)
        await pageA.screenshot({ path: 'docs/screenshot.png' })
        await pageA.setViewportSize({ width: 1000, height: 700 })
      }
      await pageA.keyboard.press('Control+End')
      const paste = Array.from({ length: 1600 }, (_, i) => `line ${i} of the pasted block: ${'x'.repeat(48)}`).join('\n') + '\n'
      expect(paste.length).toBeGreaterThan(100_000)
      await pageA.evaluate((text) => {
        const dt = new DataTransfer()
        dt.setData('text/plain', text)
        document.querySelector('.cm-content')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
      }, paste)
      await pageB.keyboard.type('More from Bob. ', { delay: 5 })
      await pageIdle(pageA)
      await pageIdle(pageB)
      let text = await converged([pageA, pageB], [A, B], 'both pages and both daemons after typing and the paste')
      expect(text).toContain('- Alice: the launch plan for the editor page\n- Alice types at the end.')
      expect(text).toContain('- Bob: write the release notes\n- Bob types at the start.')
      expect(text).toContain('More from Bob. ')
      expect(text.split(paste).length - 1).toBe(1)

      step("the other member's cursor and name")
      // Both near the top, so each caret is in the other's viewport (CodeMirror renders only that).
      await pageA.keyboard.press('Control+Home')
      await pageB.keyboard.press('Control+Home')
      await pageB.keyboard.press('ArrowDown')
      await pageA.waitForFunction(() => [...document.querySelectorAll('.sp-remote-label')].some((e) => e.textContent === 'Bob'), undefined, { timeout: 30_000 })
      await pageB.waitForFunction(() => [...document.querySelectorAll('.sp-remote-label')].some((e) => e.textContent === 'Alice'), undefined, { timeout: 30_000 })

      step('members: the owner may remove Bob; Bob may remove no one')
      await pageA.click('[data-action=members]')
      await pageA.waitForSelector('#sp-members li[data-member] button.danger')
      expect(await pageA.locator('#sp-members li[data-member]').count()).toBe(2)
      await pageA.keyboard.press('Escape')
      await pageB.click('[data-action=members]')
      await pageB.waitForSelector('#sp-members li[data-member]')
      expect(await pageB.locator('#sp-members button.danger').count()).toBe(0)
      await pageB.keyboard.press('Escape')

      step('undo takes back only our own edits')
      await pageA.click('.cm-content')
      await pageB.click('.cm-content')
      await pageB.keyboard.press('Control+Home')
      await pageA.keyboard.press('Control+End')
      await pageA.keyboard.type('UNDO-ME-A')
      await pageIdle(pageA)
      await converged([pageA, pageB], [], 'B to see UNDO-ME-A')
      await pageB.keyboard.type('KEEP-B')
      await pageIdle(pageB)
      await converged([pageA, pageB], [], 'A to see KEEP-B')
      await pageA.keyboard.press('Control+z')
      await pageIdle(pageA)
      text = await converged([pageA, pageB], [A, B], 'the undo everywhere')
      expect(text).not.toContain('UNDO-ME-A')
      expect(text).toContain('KEEP-B')
      expect(text.split(paste).length - 1).toBe(1)

      step('reload keeps the text')
      await pageB.reload()
      await pageIdle(pageB)
      expect(await pageText(pageB)).toBe(text)

      step('latency: 200 keystrokes in A, each until it shows in B')
      await pageA.keyboard.press('Control+End')
      await pageB.evaluate(() => {
        const w = window as unknown as Hooks & { arrivals: Array<[number, number]> }
        w.arrivals = []
        w.swarmpad.onDocChange = (len, t) => w.arrivals.push([len, t])
      })
      await pageA.evaluate(() => {
        const w = window as unknown as { pressed: number[] }
        w.pressed = []
        document.addEventListener('keydown', () => w.pressed.push(performance.timeOrigin + performance.now()), true)
      })
      const base = (await pageText(pageB)).length
      const N = 200
      for (let i = 0; i < N; i++) {
        await pageA.keyboard.press(String.fromCharCode(97 + (i % 26)))
        await pageB.waitForFunction((want) => (window as unknown as Hooks).swarmpad.text().length >= want, base + i + 1, { polling: 5, timeout: 30_000 })
      }
      const pressed = await pageA.evaluate(() => (window as unknown as { pressed: number[] }).pressed)
      const arrivals = await pageB.evaluate(() => (window as unknown as { arrivals: Array<[number, number]> }).arrivals)
      const latencies: number[] = []
      for (let i = 0; i < N; i++) {
        const hit = arrivals.find(([len]) => len >= base + i + 1)
        if (hit && pressed[i] !== undefined) latencies.push(hit[1] - pressed[i]!)
      }
      expect(latencies.length).toBe(N)
      latencies.sort((x, y) => x - y)
      const p50 = quantile(latencies, 0.5)
      const p99 = quantile(latencies, 0.99)
      console.log(`[e2e] keystroke in page A -> visible in page B over ${N} keystrokes: median ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies[N - 1]!.toFixed(1)} ms`)
      // What the README promises for a page of another device on this machine: a median under 1 s.
      expect(p50).toBeLessThan(1000)
      await pageIdle(pageA)
      await converged([pageA, pageB], [A, B], 'after the latency run')

      step('kill -9 daemon A while typing, restart it: nothing typed is lost')
      const tokens: string[] = []
      const typeToken = async () => {
        const t = `<k${tokens.length}>`
        tokens.push(t)
        await pageA.keyboard.type(t)
      }
      for (let i = 0; i < 10; i++) await typeToken()
      await A.kill()
      for (let i = 0; i < 10; i++) await typeToken() // typed while the daemon is gone
      await pageA.waitForFunction(() => /not connected|restarted/.test(document.querySelector('.sp-status')?.textContent ?? ''), undefined, { timeout: 15_000 })
      await A.restart()
      // The restarted daemon has a new page credential: the open tab says to
      // run `swarmpad open` again; once that logs a tab in, the open tab
      // reconnects with the new credential (same origin) and resends what the
      // daemon did not confirm.
      await pageA.waitForFunction(() => /restarted: run `swarmpad open` again/.test(document.querySelector('.sp-status')?.textContent ?? ''), undefined, { timeout: 30_000 })
      const reopened = await openDocPage(browserA, A, DOC)
      await pageA.waitForFunction(() => !/not connected|restarted/.test(document.querySelector('.sp-status')?.textContent ?? ''), undefined, { timeout: 30_000 })
      await reopened.close()
      await pageA.bringToFront()
      for (let i = 0; i < 5; i++) await typeToken()
      await pageIdle(pageA, 60_000)
      text = await converged([pageA, pageB], [A, B], 'every token typed around the crash, everywhere', 90_000)
      for (const t of tokens) expect(text.split(t).length - 1, `${t} once`).toBe(1)

      step('history: the slider shows an earlier text; restore brings it back')
      await pageA.click('[data-action=history]')
      await pageA.waitForFunction(() => document.querySelector('.sp-history')?.getAttribute('data-index') !== null && document.querySelector('.sp-history')?.getAttribute('data-index') !== undefined, undefined, { timeout: 30_000 })
      const slider = pageA.locator('.sp-history input[type=range]')
      const max = Number(await slider.getAttribute('max'))
      expect(max).toBeGreaterThan(2)
      await slider.fill(String(Math.floor(max / 2)))
      await pageA.waitForFunction(
        (cur) => {
          const h = (window as unknown as { swarmpad: { historyText(): string | null } }).swarmpad.historyText()
          return h !== null && h !== cur
        },
        text,
        { timeout: 30_000 }
      )
      const earlier = (await pageA.evaluate(() => (window as unknown as { swarmpad: { historyText(): string | null } }).swarmpad.historyText()))!
      expect(earlier).not.toBe(text)
      await pageA.waitForFunction(() => document.querySelectorAll('.sp-history-view [data-member]').length > 0)
      await pageA.click('.sp-history button.primary')
      const restored = await converged([pageA, pageB], [A, B], 'the restored text everywhere')
      expect(restored).toBe(earlier)

      step("share: Alice makes a writer invite in the page, sees it listed in her daemon, and cancels it")
      await pageA.keyboard.press('Escape')
      await pageA.click('[data-action=share]')
      await pageA.click('[data-kind=writer]')
      const code = await pageA.locator('.sp-code').inputValue({ timeout: 15_000 })
      expect(code).toMatch(/^[a-z0-9]{40,}$/)
      const listed = async () => ((await (await A.api(`/api/invites?doc=${encodeURIComponent(DOC)}`)).json()) as { invites: Array<{ state: string; kind?: string; role?: string }> }).invites
      expect((await listed()).filter((i) => i.state === 'pending')).toHaveLength(1)
      await pageA.locator('#sp-share li button.danger').first().click()
      await eventually(async () => (await listed()).every((i) => i.state !== 'pending'), 'the invite to be cancelled in the daemon')
      await pageA.keyboard.press('Escape')

      step("Bob closes his page: his cursor leaves Alice's page")
      await pageA.waitForFunction(() => (window as unknown as { swarmpad: { peers(): Array<{ name: string; head: number | null }> } }).swarmpad.peers().some((p) => p.name === 'Bob' && p.head !== null), undefined, { timeout: 30_000 })
      await pageB.close()
      pages.splice(pages.findIndex((p) => p.name === 'bob'), 1)
      await pageA.waitForFunction(() => !(window as unknown as { swarmpad: { peers(): Array<{ name: string; head: number | null }> } }).swarmpad.peers().some((p) => p.name === 'Bob' && p.head !== null), undefined, { timeout: 15_000 })
    } catch (err) {
      await saveScreenshots(pages, ctx.task.name)
      for (const { name, page } of pages) {
        const info = await page
          .evaluate(() => {
            const s = (window as unknown as { swarmpad: { peers(): unknown; members(): unknown; status(): unknown; unconfirmed(): number } }).swarmpad
            return JSON.stringify({ peers: s.peers(), members: s.members(), status: s.status(), unconfirmed: s.unconfirmed() })
          })
          .catch((e: Error) => e.message)
        console.error(`[${name}] ${info}`)
      }
      console.error(`daemon A log:\n${A.log.slice(-3000)}\ndaemon B log:\n${B.log.slice(-3000)}`)
      throw err
    }
  }, 600_000)
})
