// e2e/browser, one device: the page against an in-process LocalServer +
// CollabHub + Swarmpad (no daemon process): typing reaches the document,
// two tabs of one device converge, undo is per tab, reload keeps the text,
// the history slider shows an earlier text and restore works, sharing says
// "not available" without invites, and the page works at 360 px wide.
import { describe, expect, test } from 'vitest'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { Swarmpad } from '../../src/swarmpad.js'
import { LocalServer } from '../../src/server/http.js'
import { CollabHub } from '../../src/server/collab.js'
import { tmpDir } from '../helpers/tmp.js'
import { eventually } from '../helpers/docs.js'
import { browserUnavailable, launchBrowser, pageIdle, pageText, saveScreenshots } from '../helpers/browser.js'

const staticDir = fileURLToPath(new URL('../../dist/web/', import.meta.url))
const skip = browserUnavailable() ?? (existsSync(`${staticDir}app.js`) ? null : 'dist/web is not built (npm run build)')
if (skip) console.warn(`skipping page tests: ${skip}`)

async function device() {
  const home = await tmpDir('swarmpad-page-')
  const sp = new Swarmpad({ home, ackInterval: 0 })
  await sp.ready()
  const token = 'test-token-' + Math.random().toString(36).slice(2)
  const server = new LocalServer({ port: 0, token, staticDir })
  const hub = new CollabHub(sp)
  server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))
  await server.ready()
  const close = async () => {
    await server.close()
    await hub.close()
    await sp.close()
  }
  return { home, sp, server, hub, token, close, login: (path: string) => server.loginUrl(path) }
}

describe.skipIf(skip !== null)('editor page (one device)', () => {
  test('typing, two tabs, undo, reload, history and restore', async (ctx) => {
    const d = await device()
    const pages: Array<{ name: string; page: Page }> = []
    try {
      await d.sp.create('notes.md', { text: '# Notes\n' })
      const browser = await launchBrowser('local')
      const a = await browser.newPage()
      pages.push({ name: 'tab-a', page: a })
      a.on('dialog', (dlg) => void dlg.accept())
      a.on('pageerror', (e) => console.log('[page a error]', e.message))
      await a.goto(d.login('/doc/notes.md'))
      await a.waitForURL(/\/doc\/notes\.md$/)
      await pageIdle(a)
      expect(await pageText(a)).toBe('# Notes\n')
      // The ticket left the address bar, and there is no cookie (browsers send cookies to every port).
      expect(a.url()).not.toContain('ticket')
      expect(await a.evaluate(() => document.cookie)).toBe('')

      await a.click('.cm-content')
      await a.keyboard.press('Control+End')
      await a.keyboard.type('hello from tab a')
      await pageIdle(a)
      const doc = (await d.sp.open('notes.md')).doc
      await eventually(() => doc.text.toString() === '# Notes\nhello from tab a', 'the daemon to have the text')

      // A second tab of the same device.
      const b = await browser.newPage()
      pages.push({ name: 'tab-b', page: b })
      await b.goto(`${d.server.origin}/doc/notes.md`)
      await pageIdle(b)
      expect(await pageText(b)).toBe('# Notes\nhello from tab a')
      await b.click('.cm-content')
      await b.keyboard.press('Control+Home')
      await b.keyboard.type('B:')
      await a.keyboard.type('!')
      await pageIdle(a)
      await pageIdle(b)
      await eventually(async () => (await pageText(a)) === (await pageText(b)) && (await pageText(a)) === doc.text.toString(), 'the tabs to converge')
      expect(doc.text.toString()).toBe('B:# Notes\nhello from tab a!')
      // The other tab's cursor is shown.
      await a.waitForSelector('.sp-remote-caret', { timeout: 10_000 })

      // Undo in tab a undoes only tab a's typing.
      await a.click('.cm-content')
      for (let i = 0; i < 3; i++) await a.keyboard.press('Control+z')
      await pageIdle(a)
      await eventually(async () => !(await pageText(a)).includes('hello') && (await pageText(b)) === (await pageText(a)), 'undo to reach both tabs')
      expect(doc.text.toString()).toBe('B:# Notes\n')

      // Keystroke in one tab -> visible in the other tab of the same device
      // (the page and the authority alone: no network in between).
      await a.keyboard.press('Control+End')
      await b.evaluate(() => {
        const w = window as unknown as { arrivals: Array<[number, number]>; swarmpad: { onDocChange?: (l: number, t: number) => void } }
        w.arrivals = []
        w.swarmpad.onDocChange = (l, t) => w.arrivals.push([l, t])
      })
      await a.evaluate(() => {
        const w = window as unknown as { pressed: number[] }
        w.pressed = []
        document.addEventListener('keydown', () => w.pressed.push(performance.timeOrigin + performance.now()), true)
      })
      const base = (await pageText(b)).length
      const N = 100
      for (let i = 0; i < N; i++) {
        await a.keyboard.press('x')
        await b.waitForFunction((want) => (window as unknown as { swarmpad: { text(): string } }).swarmpad.text().length >= want, base + i + 1, { polling: 5 })
      }
      const pressed = await a.evaluate(() => (window as unknown as { pressed: number[] }).pressed)
      const arrivals = await b.evaluate(() => (window as unknown as { arrivals: Array<[number, number]> }).arrivals)
      const lat = pressed.slice(0, N).map((t, i) => arrivals.find(([l]) => l >= base + i + 1)![1] - t).sort((x, y) => x - y)
      console.log(`[e2e] tab -> tab on one device over ${N} keystrokes: median ${lat[N / 2]!.toFixed(1)} ms, p99 ${lat[N - 2]!.toFixed(1)} ms`)
      for (let i = 0; i < N; i++) await a.keyboard.press('Backspace')
      await pageIdle(a)
      await eventually(async () => (await pageText(b)) === 'B:# Notes\n', 'the tabs to drop the x')

      // Reload keeps the text.
      await b.reload()
      await pageIdle(b)
      expect(await pageText(b)).toBe('B:# Notes\n')

      // History: the slider shows an earlier text; restore brings it back as a new edit.
      await a.click('[data-action=history]')
      await a.waitForFunction(() => (window as unknown as { swarmpad: { historyText(): string | null } }).swarmpad.historyText() !== null)
      const slider = a.locator('.sp-history input[type=range]')
      const max = Number(await slider.getAttribute('max'))
      expect(max).toBeGreaterThan(1)
      // Find a point whose text still has "hello".
      let found = -1
      for (let i = max - 1; i >= 0 && found < 0; i--) {
        await slider.fill(String(i))
        await a.waitForFunction((idx) => document.querySelector('.sp-history')?.getAttribute('data-index') !== null && document.querySelector('.sp-history input[type=range]') !== null && Number((document.querySelector('.sp-history input[type=range]') as HTMLInputElement).value) === idx, i)
        await a.waitForTimeout(150)
        const t = await a.evaluate(() => (window as unknown as { swarmpad: { historyText(): string | null } }).swarmpad.historyText())
        if (t !== null && t.includes('hello from tab a')) found = i
      }
      expect(found).toBeGreaterThanOrEqual(0)
      const old = await a.evaluate(() => (window as unknown as { swarmpad: { historyText(): string | null } }).swarmpad.historyText())
      await a.click('.sp-history button.primary')
      await eventually(() => doc.text.toString() === old, 'restore to apply')
      await eventually(async () => (await pageText(a)) === old && (await pageText(b)) === old, 'restore to reach both tabs')

      // Share without invites: says so.
      await a.click('[data-action=share]')
      await a.waitForSelector('[data-unavailable]')

      // The document switcher creates and opens a new document.
      await a.keyboard.press('Escape')
      await a.click('.sp-doc-button')
      await a.waitForSelector('#sp-documents .sp-doc-list a')
      expect(await a.locator('#sp-documents .sp-doc-list a').count()).toBe(1)
      await a.fill('#sp-documents input[type=text]', 'second.md')
      await a.click('#sp-documents button[type=submit]')
      await a.waitForURL(/\/doc\/second\.md$/)
      await pageIdle(a)
      expect(await pageText(a)).toBe('')
      expect(d.sp.library.list().map((e) => e.name).sort()).toEqual(['notes.md', 'second.md'])

      // Light and dark follow the system.
      const bg = () => a.evaluate(() => getComputedStyle(document.body).backgroundColor)
      expect(await bg()).toBe('rgb(255, 255, 255)')
      await a.emulateMedia({ colorScheme: 'dark' })
      expect(await bg()).toBe('rgb(21, 24, 28)')

      // Usable at 360 px: the header fits, the editor is visible.
      await a.setViewportSize({ width: 360, height: 640 })
      await a.keyboard.press('Escape')
      const width = await a.evaluate(() => document.documentElement.scrollWidth)
      expect(width).toBeLessThanOrEqual(360)
      const box = await a.locator('.cm-editor').first().boundingBox()
      expect(box !== null && box.height > 300).toBe(true)
    } catch (err) {
      await saveScreenshots(pages, ctx.task.name)
      throw err
    } finally {
      await d.close()
    }
  }, 300_000)
})
