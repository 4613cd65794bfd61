// `swarmpad sync` in a folder others can write to: FIFOs, symbolic links,
// planted temporary files and files of other users never make the daemon
// hang, read a file it was not given, or write one it does not own
// (security issue 13, item 6).
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { chown, link, lstat, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cliNet, waitFor, type CliDevice } from '../helpers/cli.js'
import { tmpDir } from '../helpers/tmp.js'

const isRoot = process.getuid?.() === 0

interface Status {
  mirrors: Array<{ doc: string; path: string; active: boolean; problem: string | null }>
}

async function mirrors(d: CliDevice): Promise<Status['mirrors']> {
  return (JSON.parse(await d.ok(['status', '--json'])) as Status).mirrors
}

async function problem(d: CliDevice): Promise<string | null> {
  return (await mirrors(d))[0]?.problem ?? null
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('file sync and special files', () => {
  it('sync NAME FIFO is refused at once with the reason, four at a time, and the daemon keeps answering', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc', '--stdin'], { input: 'text\n' })
    const dir = join(d.home, '..')
    const fifos = [1, 2, 3, 4].map((i) => join(dir, `pipe${i}`))
    for (const f of fifos) execFileSync('mkfifo', [f])
    // Four at once: each blocked open() would hold one of libuv's four threads.
    const results = await Promise.all(fifos.map((f) => d.run(['sync', 'doc', f], { timeout: 10_000 })))
    for (const [i, r] of results.entries()) {
      expect(r.signal, `sync of pipe${i + 1} was killed: it hung`).toBe(null)
      expect(r.code).toBe(1)
      expect(r.stderr).toBe(`swarmpad: ${fifos[i]} is a FIFO (named pipe), not a regular file; give a text file\n`)
      expect(r.ms).toBeLessThan(8_000)
    }
    // The daemon still answers, and syncs none of them.
    const cat = await d.run(['cat', 'doc'], { timeout: 5_000 })
    expect(cat.code).toBe(0)
    expect(cat.stdout).toBe('text\n')
    expect(await mirrors(d)).toEqual([])
    // `new --from FIFO` (read by the command itself) is refused at once too.
    const fromFifo = await d.run(['new', 'other', '--from', fifos[0]!], { timeout: 10_000 })
    expect(fromFifo.signal).toBe(null)
    expect(fromFifo.stderr).toMatch(/pipe1 is a FIFO \(named pipe\), not a regular file/)
    // Positive control: a regular file next to them syncs.
    const file = join(dir, 'doc.txt')
    await d.ok(['sync', 'doc', file])
    expect(await readFile(file, 'utf8')).toBe('text\n')
    expect(await mirrors(d)).toEqual([expect.objectContaining({ path: file, active: true, problem: null })])
  })

  it('a synced file replaced by a FIFO while the daemon was stopped: the daemon starts, status names the problem, a regular file put back syncs again', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc', '--stdin'], { input: 'one\n' })
    const file = join(d.home, '..', 'doc.txt')
    await d.ok(['sync', 'doc', file])
    await d.ok(['stop'])
    await rm(file)
    execFileSync('mkfifo', [file])
    const r = await d.run(['cat', 'doc'], { timeout: 20_000, env: { SWARMPAD_START_TIMEOUT: '10000' } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('one\n')
    await waitFor(async () => (await problem(d)) !== null, 'the problem in swarmpad status')
    expect(await problem(d)).toBe(`${file} is a FIFO (named pipe); swarmpad syncs regular files only and never follows symbolic links there; the file is not synced until it is fixed`)
    expect(await d.ok(['status'])).toContain(`doc <-> ${file}  (${file} is a FIFO (named pipe)`)
    // Positive control: the mirror is alive; a file saved in place of the FIFO goes in.
    await writeFile(`${file}.new`, 'one\ntwo\n')
    await rename(`${file}.new`, file)
    await waitFor(async () => (await d.ok(['cat', 'doc'])) === 'one\ntwo\n', 'the regular file in the document')
    await waitFor(async () => (await problem(d)) === null, 'the problem to clear')
  })

  it('a synced file replaced by a symbolic link or a hard link to a secret: the secret never reaches the document and is never overwritten; rename-saves keep syncing', async () => {
    const net = await cliNet()
    const d = await net.device()
    const dir = join(d.home, '..')
    const secret = join(dir, 'secret.txt')
    await writeFile(secret, 'TOP SECRET\n')
    await d.ok(['new', 'doc', '--stdin'], { input: 'shared\n' })
    const file = join(dir, 'doc.txt')
    await d.ok(['sync', 'doc', file])
    // Positive controls: a save by rename (vim with backupcopy=no) goes in,
    // and a remote edit is written to the file.
    await writeFile(`${file}.swp`, 'shared\nmine\n')
    await rename(`${file}.swp`, file)
    await waitFor(async () => (await d.ok(['cat', 'doc'])) === 'shared\nmine\n', 'the rename-save in the document')
    await d.ok(['write', 'doc'], { input: 'shared\nmine\nremote\n' })
    await waitFor(async () => (await readFile(file, 'utf8')) === 'shared\nmine\nremote\n', 'the remote edit in the file')

    // Someone who can rename in the folder puts a link to the secret there.
    await symlink(secret, `${file}.lnk`)
    await rename(`${file}.lnk`, file)
    await waitFor(async () => (await problem(d)) !== null || (await d.ok(['cat', 'doc'])).includes('SECRET'), 'the mirror to see the link')
    expect(await d.ok(['cat', 'doc'])).toBe('shared\nmine\nremote\n')
    expect(await problem(d)).toMatch(/doc\.txt is a symbolic link; swarmpad syncs regular files only and never follows symbolic links there/)
    // A remote edit is not written through the link (nor over it).
    await d.ok(['write', 'doc'], { input: 'shared\nmine\nremote\nmore\n' })
    await sleep(1_500)
    expect(await readFile(secret, 'utf8')).toBe('TOP SECRET\n')
    expect((await lstat(file)).isSymbolicLink()).toBe(true)

    // A hard link to the secret (a new inode with two links) is refused too.
    await link(secret, `${file}.hard`)
    await rename(`${file}.hard`, file)
    await waitFor(async () => /hard link/.test((await problem(d)) ?? '') || (await d.ok(['cat', 'doc'])).includes('SECRET'), 'the mirror to see the hard link')
    expect(await d.ok(['cat', 'doc'])).toBe('shared\nmine\nremote\nmore\n')
    expect(await problem(d)).toMatch(/doc\.txt was replaced by a hard link to another file \(2 links\)/)
    expect(await readFile(secret, 'utf8')).toBe('TOP SECRET\n')

    // The same while the daemon is stopped: the next start does not read it.
    await d.ok(['stop'])
    await rm(file)
    await symlink(secret, file)
    expect(await d.ok(['cat', 'doc'])).toBe('shared\nmine\nremote\nmore\n')
    await waitFor(async () => (await problem(d)) !== null, 'the problem after the restart')
    expect(await problem(d)).toMatch(/is a symbolic link/)
    await sleep(1_500)
    expect(await d.ok(['cat', 'doc'])).toBe('shared\nmine\nremote\nmore\n')
    expect(await readFile(secret, 'utf8')).toBe('TOP SECRET\n')

    // Positive control: the user's own file saved in its place syncs again.
    await writeFile(`${file}.swp`, 'shared\nmine\nremote\nmore\nback\n')
    await rename(`${file}.swp`, file)
    await waitFor(async () => (await d.ok(['cat', 'doc'])) === 'shared\nmine\nremote\nmore\nback\n', 'the file saved in place of the link')
    await waitFor(async () => (await problem(d)) === null, 'the problem to clear')
    await d.ok(['write', 'doc'], { input: 'shared\nmine\nremote\nmore\nback\nagain\n' })
    await waitFor(async () => (await readFile(file, 'utf8')) === 'shared\nmine\nremote\nmore\nback\nagain\n', 'the remote edit in the file again')
  })

  it('symbolic links planted at predictable temporary names never redirect the write of a remote edit', async () => {
    const net = await cliNet()
    const d = await net.device()
    const dir = join(d.home, '..')
    await d.ok(['new', 'doc', '--stdin'], { input: 'v1\n' })
    const file = join(dir, 'doc.txt')
    await d.ok(['sync', 'doc', file])
    const info = await d.daemon()
    const victim = join(dir, 'victim.txt')
    await writeFile(victim, 'victim\n')
    // The name the mirror used to write to (`.NAME.swarmpad-PID.tmp`), and
    // its neighbours, all pointing at another file of the user.
    const planted = [info!.pid, info!.pid - 1, info!.pid + 1, process.pid].map((pid) => join(dir, `.doc.txt.swarmpad-${pid}.tmp`))
    for (const p of planted) await symlink(victim, p)
    await d.ok(['write', 'doc'], { input: 'v2\n' })
    // Positive control: the write happened.
    await waitFor(async () => (await readFile(file, 'utf8')) === 'v2\n', 'the remote edit in the file')
    const written = await lstat(file)
    expect(written.isSymbolicLink()).toBe(false)
    expect(written.isFile()).toBe(true)
    expect(await readFile(victim, 'utf8')).toBe('victim\n')
    for (const p of planted) expect(await readlink(p)).toBe(victim)
    // Nothing else left behind in the folder.
    expect((await readdir(dir)).filter((n) => n.includes('swarmpad-') && !planted.some((p) => p.endsWith(n)))).toEqual([])
  })

  it.skipIf(!isRoot)('a file of another user renamed over the synced file is refused; the next save of ours syncs (needs root for chown)', async () => {
    const net = await cliNet()
    const d = await net.device()
    const dir = join(d.home, '..')
    await d.ok(['new', 'doc', '--stdin'], { input: 'mine\n' })
    const file = join(dir, 'doc.txt')
    await d.ok(['sync', 'doc', file])
    await writeFile(`${file}.evil`, 'planted\n')
    await chown(`${file}.evil`, 65534, 65534)
    await rename(`${file}.evil`, file)
    await waitFor(async () => (await problem(d)) !== null || (await d.ok(['cat', 'doc'])).includes('planted'), 'the mirror to see the file')
    expect(await d.ok(['cat', 'doc'])).toBe('mine\n')
    expect(await problem(d)).toMatch(/doc\.txt belongs to uid 65534, not to you \(uid 0\); swarmpad syncs only files you own/)
    // Nor is it overwritten by a remote edit.
    await d.ok(['write', 'doc'], { input: 'mine\nremote\n' })
    await sleep(1_500)
    expect(await readFile(file, 'utf8')).toBe('planted\n')
    expect((await stat(file)).uid).toBe(65534)
    // Positive control: our own file saved by rename goes in (merged over
    // the remote edit it never saw).
    await writeFile(`${file}.swp`, 'saved\nmine\n')
    await rename(`${file}.swp`, file)
    await waitFor(async () => (await d.ok(['cat', 'doc'])) === 'saved\nmine\nremote\n', 'our own save in the document')
    await waitFor(async () => (await readFile(file, 'utf8')) === 'saved\nmine\nremote\n', 'the merged text in the file')
    await waitFor(async () => (await problem(d)) === null, 'the problem to clear')
  })
})

describe('replaceFile (the mirror\'s write)', () => {
  it('creates its temporary file exclusively under a random name: a name taken by anything, even a dangling link, fails the write instead of following it', async () => {
    const { replaceFile, temporaryName } = await import('../../src/daemon/safe-file.js')
    const dir = await tmpDir()
    const file = join(dir, 'doc.txt')
    await writeFile(file, 'old\n', { mode: 0o640 })
    // Random: no two names alike (a name derived from the pid or a counter
    // would repeat or follow a pattern), 96 random bits each.
    const names = new Set(Array.from({ length: 50 }, () => temporaryName(file)))
    expect(names.size).toBe(50)
    for (const n of names) expect(n).toMatch(/\/\.doc\.txt\.swarmpad-[0-9a-f]{24}\.tmp$/)
    // Positive control: with a free name the file is replaced, its mode kept.
    await replaceFile(file, 'new\n', 0o640, join(dir, '.free.tmp'))
    expect(await readFile(file, 'utf8')).toBe('new\n')
    expect((await stat(file)).mode & 0o777).toBe(0o640)
    // A dangling link at the name: O_CREAT alone would create its target.
    const target = join(dir, 'created-through-link')
    const tmp = join(dir, '.taken.tmp')
    await symlink(target, tmp)
    await expect(replaceFile(file, 'evil\n', 0o640, tmp)).rejects.toThrow(/cannot write .*doc\.txt: .*EEXIST/)
    await expect(lstat(target)).rejects.toThrow(/ENOENT/)
    expect(await readlink(tmp)).toBe(target)
    expect(await readFile(file, 'utf8')).toBe('new\n')
  })
})
