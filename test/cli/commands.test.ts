// Every command's happy path, through the real binary and a real daemon.
import { describe, expect, it } from 'vitest'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cliNet, alive, waitFor } from '../helpers/cli.js'

const Z32_KEY = /^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/

describe('swarmpad commands', () => {
  it('--help lists every command, --version prints the version, no command is a usage error', async () => {
    const net = await cliNet()
    const d = await net.device()
    const help = await d.run(['--help'])
    expect(help.code).toBe(0)
    for (const cmd of ['new', 'ls', 'open', 'cat', 'write', 'edit', 'sync', 'unsync', 'invite', 'invites', 'join', 'members', 'remove', 'whoami', 'log', 'status', 'daemon', 'stop', 'bootstrap']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'))
    }
    expect(help.stdout).toMatchSnapshot()
    for (const cmd of ['new', 'write', 'sync', 'invite', 'join', 'remove', 'bootstrap']) {
      const r = await d.run([cmd, '--help'])
      expect(r.code, cmd).toBe(0)
      expect(r.stdout).toContain(`Usage: swarmpad ${cmd}`)
      expect(r.stdout).toContain('--home')
    }
    const version = await d.run(['--version'])
    expect(version.code).toBe(0)
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    expect(version.stdout.trim()).toBe(pkg.version)
    const none = await d.run([])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('Usage: swarmpad')
    // None of that started a daemon.
    expect(await d.daemon()).toBeNull()
  })

  it('new, ls, cat, write (file and stdin), log, status, stop', async () => {
    const net = await cliNet()
    const d = await net.device()
    const file = join(d.home, '..', 'start.md')
    await writeFile(file, '# Plan\n\nfirst line\n')

    const created = await d.run(['new', 'plan', '--from', file])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(/^created plan\nkey: [a-z0-9]{52}\n$/)
    const key = created.stdout.split('key: ')[1]!.trim()
    expect(key).toMatch(Z32_KEY)
    expect(created.stderr).toBe('') // no progress when stderr is not a terminal

    const info = await d.daemon()
    expect(info).not.toBeNull()
    expect((await stat(join(d.home, 'daemon.json'))).mode & 0o777).toBe(0o600)
    expect((await stat(d.home)).mode & 0o777).toBe(0o700)

    expect(await d.ok(['cat', 'plan'])).toBe('# Plan\n\nfirst line\n')
    expect(await d.ok(['cat', key])).toBe('# Plan\n\nfirst line\n') // by key too

    expect(await d.ok(['write', 'plan'], { input: '# Plan\n\nfirst line\nsecond line\n' })).toBe('plan: saved (+12 -0 characters)\n')
    await writeFile(file, '# Plan!\n\nfirst line\nsecond line\n')
    expect(await d.ok(['write', 'plan', file])).toBe('plan: saved (+1 -0 characters)\n')
    expect(await d.ok(['write', 'plan', file])).toBe('plan: unchanged\n')
    expect(await d.ok(['cat', 'plan'])).toBe('# Plan!\n\nfirst line\nsecond line\n')
    const catJson = JSON.parse(await d.ok(['cat', 'plan', '--json'])) as { name: string; version: number; text: string }
    expect(catJson).toEqual({ name: 'plan', version: expect.any(Number), text: '# Plan!\n\nfirst line\nsecond line\n' })

    await d.ok(['new', 'empty'])
    const ls = await d.ok(['ls'])
    expect(ls.split('\n')[0]).toMatch(/^NAME\s+ROLE\s+SIZE\s+MEMBERS\s+ONLINE\s+STATUS$/)
    expect(ls).toMatch(/^plan\s+owner\s+32 chars\s+1\s+0\s+offline$/m)
    expect(ls).toMatch(/^empty\s+owner\s+0 chars\s+1\s+0\s+offline$/m)
    const lsJson = JSON.parse(await d.ok(['ls', '--json'])) as { documents: Array<Record<string, unknown>> }
    expect(lsJson.documents.map((x) => x.name)).toEqual(['plan', 'empty'])
    expect(lsJson.documents[0]).toMatchObject({ name: 'plan', key, role: 'owner', length: 32, writable: true, members: 1, state: 'open' })
    expect(lsJson.documents[0]!.sync).toMatchObject({ state: 'offline', label: 'offline', peers: 0 })

    const log = (await d.ok(['log', 'plan'])).trim().split('\n')
    expect(log).toHaveLength(3)
    expect(log[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  [a-z0-9]{8} \(you\)  \+19 -0$/)
    expect(log[1]).toMatch(/\+12 -0$/)
    expect(log[2]).toMatch(/\+1 -0$/)
    expect(await d.ok(['log', 'plan', '--limit', '1'])).toMatch(/^[^\n]+\+1 -0\n$/)
    const logJson = JSON.parse(await d.ok(['log', 'plan', '--json'])) as { total: number; entries: Array<{ inserted: number; deleted: number; you: boolean }> }
    expect(logJson.total).toBe(3)
    expect(logJson.entries.map((e) => [e.inserted, e.deleted, e.you])).toEqual([
      [19, 0, true],
      [12, 0, true],
      [1, 0, true]
    ])

    const status = await d.ok(['status'])
    expect(status).toMatch(new RegExp(`^daemon: +running, pid ${info!.pid}, http://127\\.0\\.0\\.1:${info!.port}, up `, 'm'))
    expect(status).toMatch(/^network: +bootstrap 127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*, LAN discovery off, 0 peers$/m)
    expect(status).toMatch(/^ {2}plan +offline, 1 member, version \d+$/m)
    const statusJson = JSON.parse(await d.ok(['status', '--json'])) as { running: boolean; daemon: { pid: number }; network: { lan: boolean; peers: number }; documents: unknown[] }
    expect(statusJson).toMatchObject({ running: true, daemon: { pid: info!.pid }, network: { lan: false, peers: 0 } })
    expect(statusJson.documents).toHaveLength(2)

    expect(await d.ok(['stop'])).toBe(`stopped swarmpad (pid ${info!.pid}); every edit is saved\n`)
    expect(alive(info!.pid)).toBe(false)
    expect(await d.daemon()).toBeNull()
    expect(await d.ok(['status'])).toMatch(/^swarmpad is not running/)
    expect(JSON.parse(await d.ok(['status', '--json']))).toEqual({ running: false, home: d.home })
    expect(await d.ok(['stop'])).toBe('swarmpad is not running\n')
    // Everything is still there after a restart.
    expect(await d.ok(['cat', 'plan'])).toBe('# Plan!\n\nfirst line\nsecond line\n')
  })

  it('open prints a single-use login address that never holds the token; the API needs the token', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'notes.md'])
    const url = (await d.ok(['open', 'notes.md', '--no-browser'])).trim()
    const info = (await d.daemon())!
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${info.port}/login#ticket=[A-Za-z0-9_-]{20,}&next=${encodeURIComponent('/doc/notes.md').replace(/\./g, '\\.')}$`))
    expect(url).not.toContain(info.token)
    expect(url).not.toContain(encodeURIComponent(info.token))
    const ticket = /#ticket=([^&]+)/.exec(url)![1]!
    const redeem = () =>
      fetch(`http://127.0.0.1:${info.port}/page/redeem`, { method: 'POST', headers: { Origin: `http://127.0.0.1:${info.port}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ ticket }) })
    const first = await redeem()
    expect(first.status).toBe(200)
    const { credential } = (await first.json()) as { credential: string }
    expect(credential).not.toBe(info.token)
    expect((await redeem()).status).toBe(401) // once only
    // The page credential does not open the API; the token does.
    expect((await fetch(`http://127.0.0.1:${info.port}/api/ls`)).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${info.port}/api/ls`, { headers: { Authorization: `Bearer ${credential}` } })).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${info.port}/api/ls`, { headers: { Authorization: `Bearer ${info.token}` } })).status).toBe(200)
    const json = JSON.parse(await d.ok(['open', 'notes.md', '--no-browser', '--json'])) as { url: string; name: string; expires: number }
    expect(json.name).toBe('notes.md')
    expect(json.url).not.toBe(url) // a fresh ticket each time
    expect(json.expires).toBeGreaterThan(Date.now())
  })

  it('whoami sets the name and colour shown to members; members lists them', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc'])
    expect(await d.ok(['whoami'])).toMatch(/^no name set; set one with/)
    expect(await d.ok(['whoami', '--name', 'Ada', '--color', '#3366cc'])).toBe('name:  Ada\ncolor: #3366cc\n')
    expect(await d.ok(['whoami'])).toBe('name:  Ada\ncolor: #3366cc\n')
    const members = await d.ok(['members', 'doc'])
    expect(members).toMatch(/^NAME\s+COLOR\s+ROLE\s+KEY\s+ONLINE\s+LAST SEEN$/m)
    expect(members).toMatch(/^Ada \(you\)\s+#3366cc\s+owner\s+[a-z0-9]{8}\s+yes\s+now$/m)
    // A document made later carries the profile too.
    await d.ok(['new', 'later'])
    const later = JSON.parse(await d.ok(['members', 'later', '--json'])) as { members: Array<{ name: string; color: string; self: boolean; role: string }> }
    expect(later.members).toEqual([expect.objectContaining({ name: 'Ada', color: '#3366cc', self: true, role: 'owner' })])
    // Renaming keeps the colour.
    await d.ok(['whoami', '--name', 'Ada L.'])
    expect(JSON.parse(await d.ok(['whoami', '--json']))).toMatchObject({ profile: { name: 'Ada L.', color: '#3366cc' } })
    await waitFor(async () => (await d.ok(['members', 'doc'])).includes('Ada L. (you)'), 'the new name in doc')
    // Every colour the command accepts reaches the documents, as lowercase #rrggbb
    // (#ABC and #3366CC used to pass the command and then fail in the block codec).
    for (const [given, stored] of [['#ABC', '#aabbcc'], ['#3366CC', '#3366cc'], ['#0f0', '#00ff00']] as const) {
      expect(await d.ok(['whoami', '--color', given])).toBe(`name:  Ada L.\ncolor: ${stored}\n`)
      expect(JSON.parse(await readFile(join(d.home, 'profile.json'), 'utf8'))).toEqual({ name: 'Ada L.', color: stored })
      await waitFor(async () => (await d.ok(['members', 'doc'])).includes(stored), `${stored} in doc`)
    }
  })

  it('invite, invites, cancel; remove refuses the last owner', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc'])
    const code = (await d.ok(['invite', 'doc'])).trim()
    expect(code).toMatch(/^[a-z0-9]{100,}$/)
    const readOnly = JSON.parse(await d.ok(['invite', 'doc', '--role', 'read-only', '--expires', '1h', '--json'])) as { role: string; code: string; expires: number }
    expect(readOnly.role).toBe('reader')
    expect(readOnly.expires).toBeLessThanOrEqual(Date.now() + 3600_000)
    const list = await d.ok(['invites', 'doc'])
    expect(list).toMatch(/^ID\s+ROLE\s+STATE\s+CREATED\s+EXPIRES\s+USED BY$/m)
    const rows = list.trim().split('\n').slice(1)
    expect(rows).toHaveLength(1) // read-only invites are not listed: they hold the keys
    const id = rows[0]!.split(/\s+/)[0]!
    expect(rows[0]).toMatch(/\swriter\s+pending\s/)
    expect(await d.ok(['invites', 'doc', '--cancel', id])).toBe(`cancelled invite ${id} to doc\n`)
    expect(await d.ok(['invites', 'doc'])).toMatch(/\swriter\s+cancelled\s/)
    const self = JSON.parse(await d.ok(['members', 'doc', '--json'])) as { members: Array<{ key: string }> }
    const r = await d.run(['remove', 'doc', self.members[0]!.key.slice(0, 8)])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^swarmpad: .*last owner.*\n$/)
  })

  it('bootstrap runs a DHT node, prints its address, and stops cleanly on SIGTERM', async () => {
    const net = await cliNet()
    const d = await net.device()
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'swarmpad.js'), 'bootstrap', '--host', '127.0.0.1', '--port', '0'], { env: d.env })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    await waitFor(() => out.includes('the others use it with'), 'the bootstrap address', 20_000)
    const address = /listening on (127\.0\.0\.1:\d+)/.exec(out)![1]!
    expect(out).toContain(`swarmpad --bootstrap ${address}`)
    // A device can use it as its only bootstrap node.
    const r = await d.run(['--bootstrap', address, 'status', '--json'])
    expect(r.code).toBe(0)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
