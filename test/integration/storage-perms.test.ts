// The storage root is the user's alone (security issue 13, item 7): an
// existing root left open is made 0700 with 0600 files at start, what the
// daemon writes later is private too, and a root of another user is refused.
import { describe, expect, it } from 'vitest'
import { chmod, chown, lstat, mkdir, readdir, stat, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { cliNet } from '../helpers/cli.js'
import { tmpDir } from '../helpers/tmp.js'
import { Swarmpad } from '../../src/swarmpad.js'

const isRoot = process.getuid?.() === 0

/// Mode of every file and folder under `dir` (symbolic links excluded), relative path -> mode.
async function modes(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      const info = await lstat(p)
      if (info.isSymbolicLink()) continue
      out.set(p.slice(dir.length + 1), info.mode & 0o777)
      if (info.isDirectory()) await walk(p)
    }
  }
  await walk(dir)
  return out
}

/// Entries anyone but the owner may use.
function open(m: Map<string, number>): string[] {
  return [...m].filter(([, mode]) => (mode & 0o077) !== 0).map(([p, mode]) => `${p} ${mode.toString(8)}`)
}

/// Make a root look like one an older swarmpad left: 0755 folders, 0644 files.
async function loosen(home: string): Promise<void> {
  await chmod(home, 0o755)
  for (const [p] of await modes(home)) {
    const path = join(home, p)
    await chmod(path, (await lstat(path)).isDirectory() ? 0o755 : 0o644)
  }
}

describe('storage root permissions', () => {
  it('an existing root left open (0755, 0644 files) is made 0700 with 0600 files at start, and what the daemon writes later is private too', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc', '--stdin'], { input: 'secret text\n' })
    const file = join(d.home, '..', 'doc.txt')
    await d.ok(['sync', 'doc', file])
    await d.ok(['stop'])
    await loosen(d.home)
    // Positive control: there is something to fix, the Corestore's files included.
    const before = await modes(d.home)
    expect((await stat(d.home)).mode & 0o777).toBe(0o755)
    const cores = [...before.keys()].filter((p) => p.startsWith('cores/'))
    expect(cores.length).toBeGreaterThan(3)
    expect(before.get('library.json')).toBe(0o644)
    expect(open(before).length).toBe(before.size)

    await d.ok(['ls'])
    expect((await stat(d.home)).mode & 0o777).toBe(0o700)
    const after = await modes(d.home)
    expect(open(after)).toEqual([])
    for (const p of cores) if (after.has(p)) expect(after.get(p), p).toBe((await lstat(join(d.home, p))).isDirectory() ? 0o700 : 0o600)

    // What the daemon creates from now on: new documents, more log, a
    // compaction at stop, a restart.
    await d.ok(['new', 'two', '--stdin'], { input: 'x'.repeat(200_000) })
    for (let i = 0; i < 5; i++) await d.ok(['write', 'doc'], { input: `edit ${i}\n` })
    await d.ok(['stop'])
    await d.ok(['ls'])
    const later = await modes(d.home)
    expect(later.size).toBeGreaterThan(after.size - 1)
    expect(open(later)).toEqual([])
    // The user's own files keep the user's umask (not the daemon's 077): the
    // synced file was created 0666 less the umask of the command that started it.
    const mask = process.umask()
    expect((await stat(file)).mode & 0o777).toBe(0o666 & ~mask)
  })

  it('a Swarmpad opened in-process fixes an existing 0755 root and leaves symbolic links alone', async () => {
    const dir = await tmpDir()
    const home = join(dir, 'home')
    await mkdir(home, { mode: 0o755 })
    await chmod(home, 0o755)
    const outside = join(dir, 'outside')
    await mkdir(outside, { mode: 0o755 })
    await chmod(outside, 0o755)
    await symlink(outside, join(home, 'link'))
    const sp = new Swarmpad({ home, ackInterval: 0 })
    await sp.ready()
    await sp.close()
    expect((await stat(home)).mode & 0o777).toBe(0o700)
    // Not followed: the folder it points to is not ours to change.
    expect((await stat(outside)).mode & 0o777).toBe(0o755)
  })

  it.skipIf(!isRoot)('a root that belongs to another user is refused, naming the path and the owner (needs root for chown)', async () => {
    const net = await cliNet()
    const dir = await tmpDir()
    const home = join(dir, 'home')
    await mkdir(home, { mode: 0o755 })
    await chown(home, 65534, 65534)
    const d = await net.device({ home })
    const r = await d.run(['ls'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`^swarmpad: refusing to use ${home}: it belongs to uid 65534( \\(\\w+\\))?, not to you \\(uid 0\\); a storage root holds your keys and must be your own`))
    // Nothing of the storage was created in it, and its mode is unchanged.
    const names = await readdir(home)
    for (const n of ['library.json', 'cores', 'swarmpad.pid', 'daemon.json']) expect(names).not.toContain(n)
    expect((await stat(home)).mode & 0o777).toBe(0o755)
    // Positive control: once it is ours, the same command works (and makes it 0700).
    await chown(home, 0, 0)
    await d.ok(['ls'])
    expect((await stat(home)).mode & 0o777).toBe(0o700)
  })
})
