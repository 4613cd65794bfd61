import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '../helpers/cli.js'
import { browserUnavailable, launchBrowser, pageIdle, pageText, saveScreenshots } from '../helpers/browser.js'
import { InstalledNet } from './harness.js'

// The page of the installed command in Debian's Chromium: the address that
// `swarmpad open` prints, typing there, and a collaborator on another
// device saving a synced file at the same time.

const skip = browserUnavailable()

describe.skipIf(skip !== null && !process.env.CI)('acceptance: the page of the installed command in Chromium', () => {
  const net = new InstalledNet()

  beforeAll(async () => {
    if (skip !== null) throw new Error(skip)
    await net.ready()
  }, 300_000)
  afterAll(() => net.close(), 60_000)

  it('swarmpad open prints an address that logs in; typing reaches the other device and its edits reach the page', async (ctx) => {
    const [ann, bob] = [await net.device(), await net.device()]
    await net.share(ann, [bob], 'plan.md', 'agenda\n')
    expect(await net.converge([ann, bob], 'plan.md')).toBe('agenda\n')
    const url = (await ann.ok(['open', 'plan.md', '--no-browser'])).trim().split('\n').pop()!
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login#ticket=[A-Za-z0-9_-]+&next=%2Fdoc%2Fplan\.md$/)

    const browser = await launchBrowser('accept')
    let page: Page | null = null
    try {
      page = await browser.newPage()
      page.on('dialog', (dlg) => void dlg.accept())
      await page.goto(url)
      await page.waitForURL(/\/doc\/plan\.md$/)
      await pageIdle(page)
      expect(await pageText(page)).toBe('agenda\n')
      expect(page.url()).not.toContain('ticket')

      await page.click('.cm-content')
      await page.keyboard.press('Control+End')
      await page.keyboard.type('typed in the page\n')
      await pageIdle(page)
      await waitFor(async () => (await bob.ok(['cat', 'plan.md'])) === 'agenda\ntyped in the page\n', "the page's typing on Bob's device")

      // Bob and the page at once: Bob adds a line at the top of his synced copy of the
      // file (from what he read a moment ago), the page types at the end meanwhile.
      const file = join(bob.dir, 'plan.md')
      await bob.ok(['sync', 'plan.md', file])
      const seen = await readFile(file, 'utf8')
      const typing = page.keyboard.type('and more', { delay: 40 })
      await new Promise((r) => setTimeout(r, 150))
      await writeFile(file, 'Bob first\n' + seen)
      await typing
      await pageIdle(page)
      const expected = 'Bob first\nagenda\ntyped in the page\nand more'
      await waitFor(async () => (await pageText(page!)) === expected, "Bob's line in the page")
      expect(await net.converge([ann, bob], 'plan.md')).toBe(expected)
      // A reload shows the same text.
      await page.reload()
      await pageIdle(page)
      expect(await pageText(page)).toBe(expected)
    } catch (err) {
      if (page) await saveScreenshots([{ name: 'ann', page }], ctx.task.name)
      throw err
    }
  }, 180_000)
})
