// security (issue 13, item 1): the page's credential, in Chromium, against a
// second server on another port of 127.0.0.1 that a person merely visits
// (as another local user could run). Browsers send cookies to every port of
// a host, so the page must not rely on one; its credential must be useless
// elsewhere, and a login may lead only to this page.
import { describe, expect, test } from 'vitest'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { stat, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Swarmpad } from '../../src/swarmpad.js'
import { LocalServer } from '../../src/server/http.js'
import { CollabHub } from '../../src/server/collab.js'
import { writeLauncher } from '../../src/cli/browser-launch.js'
import { tmpDir } from '../helpers/tmp.js'
import { browserUnavailable, launchBrowser, pageIdle, pageText } from '../helpers/browser.js'

const staticDir = fileURLToPath(new URL('../../dist/web/', import.meta.url))
const skip = browserUnavailable() ?? (existsSync(`${staticDir}app.js`) ? null : 'dist/web is not built (npm run build)')

/// Another program on 127.0.0.1: records what browsers send it, serves a page.
async function otherServer(html: string): Promise<{ server: Server; origin: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(html)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return { server, origin: `http://127.0.0.1:${port}`, seen }
}

describe.skipIf(skip !== null)('the page credential', () => {
  test('a logged-in browser sends nothing of swarmpad to another port; a page there cannot use the API or the socket; login stays on this page', async () => {
    const home = await tmpDir('swarmpad-cred-')
    const sp = new Swarmpad({ home, ackInterval: 0 })
    await sp.ready()
    await sp.create('notes.md', { text: 'secret plans\n' })
    const token = 'command-token-' + Math.random().toString(36).slice(2)
    const server = new LocalServer({ port: 0, token, staticDir })
    const hub = new CollabHub(sp)
    server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))
    await server.ready()
    const ours = server.origin
    const other = await otherServer(`<!doctype html><title>other</title><script>
      window.results = {};
      fetch('${ours}/api/new?name=pwned', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: 'x' })
        .then(() => (window.results.post = 'sent'), () => (window.results.post = 'failed'));
      const ws = new WebSocket('${ours.replace('http', 'ws')}/ws');
      ws.onopen = () => (window.results.ws = 'open');
      ws.onerror = () => (window.results.ws = 'refused');
    </script>`)
    try {
      const browser = await launchBrowser('cred')
      const page = await browser.newPage()
      await page.goto(server.loginUrl('/doc/notes.md'))
      await page.waitForURL(`${ours}/doc/notes.md`)
      await pageIdle(page)
      expect(await pageText(page)).toBe('secret plans\n')
      // Positive control: the other server does see what browsers send it.
      const visit = await browser.newPage()
      await visit.goto(`${other.origin}/`)
      await visit.waitForFunction(() => {
        const r = (window as unknown as { results: Record<string, string> }).results
        return r.post !== undefined && r.ws !== undefined
      })
      expect(other.seen.length).toBeGreaterThan(0)
      expect(other.seen[0]!['user-agent']).toMatch(/Chrome/)
      // Nothing of swarmpad went along: no cookie at all, no token, no credential.
      for (const h of other.seen) {
        expect(h.cookie).toBeUndefined()
        expect(JSON.stringify(h)).not.toContain(token)
      }
      // Its page could not use ours: the socket is refused, the POST did nothing.
      expect(await visit.evaluate(() => (window as unknown as { results: Record<string, string> }).results.ws)).toBe('refused')
      expect(sp.library.list().map((e) => e.name)).toEqual(['notes.md'])
      // A login may only lead to this page: an off-site `next` ends on the document list.
      const evil = await browser.newPage()
      await evil.goto(server.loginUrl('/%09/evil.example').replace('%2F%2509%2Fevil.example', encodeURIComponent('/\t/evil.example')))
      await evil.waitForURL(`${ours}/`)
      const offsite = await browser.newPage()
      await offsite.goto(`${ours}/login#ticket=${server.issueTicket()}&next=${encodeURIComponent('//evil.example/')}`)
      await offsite.waitForURL(`${ours}/`)
      // A used ticket does not log in again, and says what to do.
      const used = server.loginUrl('/doc/notes.md')
      const once = await browser.newPage()
      await once.goto(used)
      await once.waitForURL(`${ours}/doc/notes.md`)
      const twice = await (await launchBrowser('cred-2')).newPage()
      await twice.goto(used)
      await twice.waitForSelector('[role=alert]')
      expect(await twice.textContent('[role=alert]')).toMatch(/used already or is more than two minutes old/)
    } finally {
      other.server.close()
      await server.close()
      await hub.close()
      await sp.close()
    }
  }, 120_000)

  test('swarmpad open hands the browser a private file, never the address with its ticket; the file logs in', async () => {
    const home = await tmpDir('swarmpad-launch-')
    const sp = new Swarmpad({ home, ackInterval: 0 })
    await sp.ready()
    await sp.create('a', { text: 'launched\n' })
    const server = new LocalServer({ port: 0, token: 'command-token', staticDir })
    const hub = new CollabHub(sp)
    server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))
    await server.ready()
    try {
      const login = server.loginUrl('/doc/a')
      const ticket = /#ticket=([^&]+)/.exec(login)![1]!
      const target = await writeLauncher(`${home}/open`, login)
      expect(target).toMatch(/^file:\/\/.*\/open\/open-[0-9a-f]+\.html$/)
      expect(target).not.toContain(ticket)
      const file = fileURLToPath(target)
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      expect((await stat(`${home}/open`)).mode & 0o777).toBe(0o700)
      expect(await readFile(file, 'utf8')).toContain(`url=${login.replace('&', '&amp;')}`)
      // A browser started with it lands on the page, logged in.
      const browser = await launchBrowser('launch')
      const page = await browser.newPage()
      await page.goto(target)
      await page.waitForURL(`${server.origin}/doc/a`, { timeout: 20_000 })
      await pageIdle(page)
      expect(await pageText(page)).toBe('launched\n')
    } finally {
      await server.close()
      await hub.close()
      await sp.close()
    }
  })
})

