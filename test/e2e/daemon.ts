// Real `swarmpad daemon` processes for browser tests: started from the built
// CLI (bin/swarmpad.js -> dist/), on a loopback testnet only (SWARMPAD_BOOTSTRAP
// names 127.0.0.1 nodes, SWARMPAD_LAN=0), killable with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { pageIdle } from '../helpers/browser.js'
import { ensureBuilt } from '../helpers/build.js'

export { ensureBuilt }

const root = fileURLToPath(new URL('../../', import.meta.url))

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

export interface DaemonProcess {
  readonly home: string
  readonly port: number
  token: string
  child: ChildProcess
  log: string
  origin: string
  /// The URL `swarmpad open` prints (a fresh single-use ticket for `doc`).
  loginUrl(doc: string): Promise<string>
  /// GET an API route with the bearer token.
  api(path: string): Promise<Response>
  text(doc: string): Promise<string>
  kill(): Promise<void>
  stop(): Promise<void>
  restart(): Promise<void>
}

/// Start `swarmpad daemon` on `home` and a fixed port (kept across restarts,
/// as the page's origin is), bootstrapped on the given loopback DHT nodes.
export async function startDaemon(home: string, bootstrap: Array<{ host: string; port: number }>, port?: number): Promise<DaemonProcess> {
  for (const b of bootstrap) if (b.host !== '127.0.0.1') throw new Error(`bootstrap ${b.host} is not loopback`)
  const p = port ?? (await freePort())
  const env = {
    ...process.env,
    SWARMPAD_HOME: home,
    SWARMPAD_LAN: '0',
    SWARMPAD_BOOTSTRAP: bootstrap.map((b) => `${b.host}:${b.port}`).join(','),
    NO_COLOR: '1'
  }
  const d: DaemonProcess = {
    home,
    port: p,
    token: '',
    child: null as unknown as ChildProcess,
    log: '',
    origin: `http://127.0.0.1:${p}`,
    async loginUrl(doc) {
      const r = await fetch(`${d.origin}/api/login`, { method: 'POST', headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ doc }) })
      if (!r.ok) throw new Error(`login ${doc}: ${r.status} ${await r.text()}`)
      return ((await r.json()) as { url: string }).url
    },
    api(path) {
      return fetch(`${d.origin}${path}`, { headers: { Authorization: `Bearer ${d.token}` } })
    },
    async text(doc) {
      const r = await d.api(`/api/cat?doc=${encodeURIComponent(doc)}`)
      if (!r.ok) throw new Error(`cat ${doc}: ${r.status} ${await r.text()}`)
      return r.text()
    },
    async kill() {
      const c = d.child
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGKILL')
      await exited
    },
    async stop() {
      const c = d.child
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      await d.kill()
    },
    async restart() {
      await launch()
    }
  }
  const launch = async () => {
    const child = spawn(process.execPath, [join(root, 'bin/swarmpad.js'), 'daemon', '--port', String(p)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    d.child = child
    const onData = (b: Buffer) => {
      d.log += b.toString()
      if (d.log.length > 200_000) d.log = d.log.slice(-100_000)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    const deadline = Date.now() + 30_000
    const started = Date.now()
    for (;;) {
      if (child.exitCode !== null) throw new Error(`swarmpad daemon exited (${child.exitCode}):\n${d.log}`)
      try {
        const info = JSON.parse(readFileSync(join(home, 'daemon.json'), 'utf8')) as { pid: number; token: string; port: number }
        if (info.pid === child.pid && info.port === p) {
          d.token = info.token
          break
        }
      } catch {
        // not written yet
      }
      if (Date.now() > deadline) throw new Error(`swarmpad daemon did not start in ${Date.now() - started} ms:\n${d.log}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await launch()
  onTestFinished(() => d.stop())
  return d
}

/// Open document `doc` in a new page of `context`, logged in to daemon `d`
/// (its ticket is traded for the page credential); confirm dialogs are accepted.
export async function openDocPage(context: BrowserContext, d: DaemonProcess, doc: string): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (e) => console.error(`[page ${d.port}] ${e.message}`))
  page.on('dialog', (dlg) => void dlg.accept())
  await page.goto(await d.loginUrl(doc))
  await page.waitForURL(/\/doc\//)
  await pageIdle(page)
  return page
}
