// e2e/browser (issue 4): "remove and re-key" from the page. Three real
// `swarmpad daemon` processes on one loopback testnet: Alice owns the
// document, Bob and Cy write to it. Alice removes Cy with a re-key in her
// page's members dialog; Bob's daemon follows to the successor by itself and
// his open page moves with it; what Bob then types reaches Alice's page and
// not Cy's device, which stays online with the old document.
import { describe, expect, test } from 'vitest'
import type { Page } from 'playwright-core'
import { eventually } from '../helpers/docs.js'
import { tmpDir } from '../helpers/tmp.js'
import { runCli } from '../helpers/cli.js'
import { browserUnavailable, launchBrowser, pageText, saveScreenshots } from '../helpers/browser.js'
import { ensureBuilt, openDocPage, startDaemon, type DaemonProcess } from './daemon.js'
import { loopbackTestnet } from '../helpers/testnet.js'

const skip = browserUnavailable()
if (skip) console.warn(`skipping re-key page test: ${skip}`)

const DOC = 'plan.md'

describe.skipIf(skip !== null)('re-key from the page', () => {
  test('Alice removes Cy with a re-key; Bob (daemon and open page) follows; Cy gets nothing new', async (ctx) => {
    ensureBuilt()
    const testnet = await loopbackTestnet(3)
    const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
    const homes = await Promise.all(['a', 'b', 'c'].map((x) => tmpDir(`swarmpad-e2e-rekey-${x}-`)))
    const [A, B, C] = await Promise.all(homes.map((h) => startDaemon(h, testnet.bootstrap)))
    const cli = async (home: string, args: string[], input?: string): Promise<string> => {
      const r = await runCli(args, { env: { ...process.env, SWARMPAD_HOME: home, SWARMPAD_BOOTSTRAP: bootstrap, SWARMPAD_LAN: '0', NO_COLOR: '1' }, ...(input !== undefined ? { input } : {}) })
      if (r.code !== 0) throw new Error(`swarmpad ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
      return r.stdout
    }
    const keyOf = async (d: DaemonProcess) => ((await (await d.api('/api/ls')).json()) as { documents: Array<{ key: string }> }).documents[0]!.key
    const [homeA, homeB, homeC] = homes as [string, string, string]
    await cli(homeA, ['whoami', '--name', 'Alice'])
    await cli(homeB, ['whoami', '--name', 'Bob'])
    await cli(homeC, ['whoami', '--name', 'Cy'])
    await cli(homeA, ['new', DOC, '--stdin'], '# Plan\n')
    await cli(homeB, ['join', (await cli(homeA, ['invite', DOC])).trim(), DOC])
    await cli(homeC, ['join', (await cli(homeA, ['invite', DOC])).trim(), DOC])
    const oldKey = await keyOf(A!)

    const browserA = await launchBrowser('a')
    const browserB = await launchBrowser('b')
    const pages: Array<{ name: string; page: Page }> = []
    const step = (s: string) => console.log(`[e2e rekey] ${s}`)
    try {
      const pageA = await openDocPage(browserA, A!, DOC)
      const pageB = await openDocPage(browserB, B!, DOC)
      pages.push({ name: 'alice', page: pageA }, { name: 'bob', page: pageB })
      await eventually(async () => (await pageText(pageA)) === '# Plan\n' && (await pageText(pageB)) === '# Plan\n', 'the text in both pages', 60_000)

      step("Alice's members dialog: remove Cy and re-key")
      await pageA.click('[data-action=members]')
      const cyRow = pageA.locator('#sp-members li[data-member]', { hasText: 'Cy' })
      await cyRow.waitFor({ timeout: 60_000 })
      await cyRow.locator('button[data-remove=rekey]').click()
      await pageA.waitForFunction(() => [...document.querySelectorAll('.sp-notice')].some((n) => /Cy was removed and the document moved to fresh keys\. 1 member follows\./.test(n.textContent ?? '')), undefined, { timeout: 60_000 })
      const newKey = await keyOf(A!)
      expect(newKey).not.toBe(oldKey)
      await pageA.keyboard.press('Escape')

      step("Bob's daemon follows; his page moves to the successor and he types")
      await eventually(async () => (await keyOf(B!)) === newKey, "Bob's daemon to follow", 60_000)
      await eventually(async () => ((await (await B!.api(`/api/doc?doc=${encodeURIComponent(DOC)}`)).json()) as { writable: boolean }).writable, 'Bob writable on the successor', 60_000)
      // The page shows the successor's text and takes edits into it.
      await pageB.waitForFunction(() => !/not connected|read-only/.test(document.querySelector('.sp-status')?.textContent ?? ''), undefined, { timeout: 30_000 })
      await pageB.click('.cm-content')
      await pageB.keyboard.press('Control+End')
      await pageB.keyboard.type('- after the re-key, from Bob', { delay: 10 })
      const expected = '# Plan\n- after the re-key, from Bob'
      let seen: string[] = []
      await eventually(
        async () => {
          seen = [await pageText(pageB), await B!.text(DOC), await A!.text(DOC), await pageText(pageA)]
          return seen.every((t) => t === expected)
        },
        "Bob's line in Alice's page and both daemons",
        60_000
      ).catch((err: Error) => {
        throw new Error(`${err.message}: page B, daemon B, daemon A, page A have ${JSON.stringify(seen)}`)
      })

      step('Cy, online with the old document, has none of it')
      expect(await keyOf(C!)).toBe(oldKey)
      expect(await C!.text(DOC)).toBe('# Plan\n')
    } catch (err) {
      await saveScreenshots(pages, ctx.task.name)
      console.error(`daemon A log:\n${A!.log.slice(-3000)}\ndaemon B log:\n${B!.log.slice(-3000)}`)
      throw err
    }
  }, 300_000)
})
