// TESTING.md 5.2, command line: every bad input gets exit status != 0 and one
// line on stderr naming the bad value and the fix, and leaves nothing behind.
import { describe, expect, it } from 'vitest'
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { BIN, cliNet, exists, waitFor, type CliDevice, type RunResult } from '../helpers/cli.js'
import { encodeInvite } from '../../src/pairing/code.js'

/// Exactly one line on stderr, prefixed "swarmpad: ", nothing on stdout, no stack trace.
function oneLine(r: RunResult, code: number, pattern: RegExp): void {
  expect(r.code, `exit status; stderr: ${r.stderr}`).toBe(code)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/^swarmpad: [^\n]+\n$/)
  expect(r.stderr).toMatch(pattern)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

async function libraryNames(d: CliDevice): Promise<string[]> {
  try {
    const lib = JSON.parse(await readFile(join(d.home, 'library.json'), 'utf8')) as { documents: Array<{ name: string }> }
    return lib.documents.map((x) => x.name)
  } catch {
    return []
  }
}

describe('bad input on the command line', () => {
  it('usage errors exit 2, name the flag or argument and point to --help; no daemon is started', async () => {
    const net = await cliNet()
    const d = await net.device()
    oneLine(await d.run(['frobnicate']), 2, /unknown command 'frobnicate'.*see `swarmpad --help`/)
    oneLine(await d.run(['lss']), 2, /unknown command 'lss' \(Did you mean ls\?\); see `swarmpad --help`/)
    oneLine(await d.run(['cat', 'doc', '--frob']), 2, /unknown option '--frob'; see `swarmpad cat --help`/)
    oneLine(await d.run(['cat']), 2, /missing required argument 'name'; see `swarmpad cat --help`/)
    oneLine(await d.run(['cat', 'a', 'b']), 2, /too many arguments for 'cat'.*see `swarmpad cat --help`/)
    oneLine(await d.run(['new', 'x', '--from', 'f.txt', '--stdin']), 2, /option '--stdin' cannot be used with option '--from <file>'; see `swarmpad new --help`/)
    oneLine(await d.run(['sync', 'x', 'f.txt', '--from-file', '--from-doc']), 2, /option '--from-doc' cannot be used with option '--from-file'/)
    oneLine(await d.run(['invite', 'x', '--role', 'boss']), 2, /argument 'boss' is invalid.*writer, owner, read-only.*see `swarmpad invite --help`/)
    oneLine(await d.run(['invite', 'x', '--expires', 'soon']), 2, /invalid --expires "soon": expected a number and a unit, e\.g\. 30m/)
    oneLine(await d.run(['log', 'x', '--limit', '-3']), 2, /invalid --limit "-3"|argument missing/)
    oneLine(await d.run(['log', 'x', '--limit', 'ten']), 2, /invalid --limit "ten": expected a positive whole number/)
    oneLine(await d.run(['daemon', '--port', '99999']), 2, /invalid --port "99999": expected a port from 0 to 65535/)
    oneLine(await d.run(['whoami', '--color', 'blue']), 2, /invalid --color "blue": a colour is #rgb or #rrggbb/)
    oneLine(await d.run(['whoami', '--name', ' ']), 2, /invalid --name " ": a name cannot be empty/)
    oneLine(await d.run(['new', 'a/b']), 2, /invalid document name "a\/b": a name cannot hold control characters or slashes/)
    oneLine(await d.run(['new', '']), 2, /invalid document name "": a name cannot be empty/)
    oneLine(await d.run(['--home', '', 'ls']), 2, /--home needs a directory/)
    expect(await exists(d.home)).toBe(false)
  })

  it('bad --bootstrap values are usage errors naming the value, before anything is created', async () => {
    const net = await cliNet()
    const d = await net.device()
    oneLine(await d.run(['--bootstrap', 'nonsense', 'ls']), 2, /invalid bootstrap node "nonsense": missing :port \(expected host:port\)/)
    oneLine(await d.run(['--bootstrap', '127.0.0.1:70000', 'ls']), 2, /invalid bootstrap node "127\.0\.0\.1:70000": port 70000 is out of range \(1-65535\)/)
    oneLine(await d.run(['ls'], { env: { SWARMPAD_BOOTSTRAP: 'host:port' } }), 2, /invalid bootstrap node "host:port": port "port" is not a number/)
    expect(await exists(d.home)).toBe(false)
  })

  it('malformed document keys and invites are refused without network activity; unknown names list the known ones', async () => {
    const net = await cliNet()
    const d = await net.device()
    // Invites are checked before the daemon is even started.
    oneLine(await d.run(['join', 'ybndr']), 2, /^swarmpad: invalid invite: the code has 5 characters, an invite has \d+: too short/)
    const code = encodeInvite({ role: 'writer', seed: randomBytes(32), discoveryKey: randomBytes(32), expires: Date.now() + 3600_000 })
    oneLine(await d.run(['join', code.slice(0, 60)]), 2, /invalid invite: .*too short \(cut off\?\)/)
    const typo = code.slice(0, 30) + (code[30] === 'y' ? 'b' : 'y') + code.slice(31)
    oneLine(await d.run(['join', typo]), 2, /invalid invite: the checksum does not match \(a typo\?\)/)
    oneLine(await d.run(['join', code.replace(/^./, '0')]), 2, /invalid invite: "0" is not a character of invite codes/)
    const expired = encodeInvite({ role: 'writer', seed: randomBytes(32), discoveryKey: randomBytes(32), expires: Date.now() - 60_000 })
    oneLine(await d.run(['join', expired]), 1, /this invite expired on .*; ask for a new one/)
    oneLine(await d.run(['join', code, 'bad/name']), 2, /invalid document name "bad\/name"/)
    expect(await exists(d.home)).toBe(false)

    await d.ok(['new', 'alpha'])
    await d.ok(['new', 'beta'])
    oneLine(await d.run(['cat', 'gamma']), 1, /no document named "gamma"; known: alpha, beta \(see `swarmpad ls`\)/)
    oneLine(await d.run(['cat', 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u']), 2, /invalid document key: .* is neither a document name nor a key/)
    oneLine(await d.run(['cat', 'ff'.repeat(31)]), 2, /invalid document key: .*this has 62 characters/)
    // A well-formed key of a document this device does not have.
    oneLine(await d.run(['cat', 'aa'.repeat(32)]), 1, /no document named "a{64}"; known: alpha, beta/)
    oneLine(await d.run(['members', 'gamma']), 1, /no document named "gamma"/)
    oneLine(await d.run(['new', 'alpha']), 1, /a document named "alpha" already exists; choose another name/)
    expect(await libraryNames(d)).toEqual(['alpha', 'beta'])
  })

  it('input files: missing, a directory, not UTF-8, over the size cap; nothing is created', async () => {
    const net = await cliNet()
    const d = await net.device()
    const dir = join(d.home, '..', 'files')
    await mkdir(dir)
    const binary = join(dir, 'image.bin')
    await writeFile(binary, Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x00]))
    const big = join(dir, 'big.txt')
    await writeFile(big, '')
    await truncate(big, 17 * 1024 * 1024)

    oneLine(await d.run(['new', 'x', '--from', join(dir, 'missing.txt')]), 1, /missing\.txt does not exist; check the path/)
    oneLine(await d.run(['new', 'x', '--from', dir]), 1, /files is a directory; give a text file/)
    oneLine(await d.run(['new', 'x', '--from', binary]), 1, /image\.bin is not UTF-8 text \(invalid byte at offset 2\); swarmpad documents hold UTF-8 text only/)
    oneLine(await d.run(['new', 'x', '--from', big]), 1, /big\.txt is 17 MiB; the limit is 16 MiB per document text/)
    oneLine(await d.run(['new', 'x', '--stdin'], { input: Buffer.from([0xc3, 0x28]) }), 1, /standard input is not UTF-8 text \(invalid byte at offset 0\)/)
    // None of it reached the daemon (not even started).
    expect(await d.daemon()).toBeNull()

    await d.ok(['new', 'doc'], {})
    await d.ok(['write', 'doc'], { input: 'kept\n' })
    oneLine(await d.run(['write', 'doc', binary]), 1, /image\.bin is not UTF-8 text/)
    oneLine(await d.run(['write', 'doc'], { input: Buffer.from([0xe2, 0x82]) }), 1, /standard input is not UTF-8 text \(invalid byte at offset 0\)/)
    oneLine(await d.run(['sync', 'doc', dir]), 1, /files is a directory; give a text file/)
    oneLine(await d.run(['sync', 'doc', join(dir, 'no', 'such', 'x.txt')]), 1, /no\/such does not exist; check the path of/)
    oneLine(await d.run(['sync', 'doc', binary]), 1, /image\.bin is not UTF-8 text/)
    oneLine(await d.run(['unsync', 'doc', join(dir, 'other.txt')]), 1, /other\.txt is not synced with "doc"; it has no synced files/)
    expect(await d.ok(['cat', 'doc'])).toBe('kept\n')
    expect(await libraryNames(d)).toEqual(['doc'])
  })

  it('a file and a document that differ need --from-file or --from-doc', async () => {
    const net = await cliNet()
    const d = await net.device()
    const file = join(d.home, '..', 'notes.txt')
    await writeFile(file, 'from the file\n')
    await d.ok(['new', 'notes', '--stdin'], { input: 'from the document\n' })
    oneLine(await d.run(['sync', 'notes', file]), 2, /notes\.txt and document "notes" differ; say which one wins with --from-file \(the document takes the file's text\) or --from-doc/)
    expect(await readFile(file, 'utf8')).toBe('from the file\n')
    expect(await d.ok(['cat', 'notes'])).toBe('from the document\n')
  })

  it('storage root: a parent that is a file, and a root locked by another process, name the path and the cause', async () => {
    const net = await cliNet()
    const d = await net.device()
    const file = join(d.home, '..', 'plain-file')
    await writeFile(file, 'x')
    oneLine(await d.run(['--home', join(file, 'root'), 'ls']), 1, /cannot use .*plain-file\/root: a parent is not a directory/)

    // A daemon in the foreground while one already runs on the same root.
    await d.ok(['new', 'doc'])
    const info = (await d.daemon())!
    oneLine(await d.run(['daemon']), 1, new RegExp(`is in use by pid ${info.pid} \\(another swarmpad\\); stop it with \`swarmpad stop\` or use another --home`))

    // A damaged library: a clear error, and the file is left as it was.
    const broken = await net.device()
    await mkdir(broken.home, { recursive: true })
    await writeFile(join(broken.home, 'library.json'), '{ "version": 1, "documents": [')
    oneLine(await broken.run(['ls']), 1, /library\.json is damaged \(not valid JSON\); it was left untouched: restore it from a backup or move it away/)
    expect(await readFile(join(broken.home, 'library.json'), 'utf8')).toBe('{ "version": 1, "documents": [')
    expect(await broken.daemon()).toBeNull()

    // A live process that holds the lock but never answers: commands give up naming it.
    const other = await net.device()
    await mkdir(other.home, { recursive: true })
    await writeFile(join(other.home, 'swarmpad.pid'), `${process.pid}\n`)
    oneLine(await other.run(['ls'], { env: { SWARMPAD_START_TIMEOUT: '1500' } }), 1, new RegExp(`did not answer within 2 s \\(pid ${process.pid} holds .*\\); see .*daemon\\.log`))
  })

  it('--port already in use names the port and suggests --port 0', async () => {
    const net = await cliNet()
    const d = await net.device()
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as { port: number }).port
    try {
      oneLine(await d.run(['daemon', '--port', String(port)]), 1, new RegExp(`port ${port} is already in use; choose another with --port, or --port 0 for any free port`))
    } finally {
      server.close()
    }
    // It let go of the storage root: the next start works.
    await d.ok(['ls'])
  })

  it('an unreachable bootstrap: join times out naming the addresses it tried', async () => {
    const net = await cliNet()
    const d = await net.device()
    const code = encodeInvite({ role: 'writer', seed: randomBytes(32), discoveryKey: randomBytes(32), expires: Date.now() + 3600_000 })
    const r = await d.run(['join', code, '--timeout', '2s'], { env: { SWARMPAD_BOOTSTRAP: '127.0.0.1:9' } })
    oneLine(r, 1, /no answer within 2 s from the device that created the invite; .*; bootstrap nodes tried: 127\.0\.0\.1:9/)
    expect(await libraryNames(d)).toEqual([])
  })

  it('SWARMPAD_DEBUG=1 adds the stack trace', async () => {
    const net = await cliNet()
    const d = await net.device()
    const r = await d.run(['new', 'x', '--from', '/nonexistent/file'], { env: { SWARMPAD_DEBUG: '1' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/\n\s+at /)
    expect(r.stderr).toMatch(/swarmpad: \/nonexistent\/file does not exist; check the path\n$/)
  })

  it('Ctrl-C while joining cancels it and adds nothing; SIGINT stops a foreground daemon cleanly', async () => {
    const net = await cliNet()
    const owner = await net.device()
    const guest = await net.device()
    await owner.ok(['new', 'doc', '--stdin'], { input: 'hello' })
    const code = (await owner.ok(['invite', 'doc'])).trim()
    await owner.ok(['stop']) // the owner is offline: the join waits
    await guest.ok(['ls'])

    const child = spawn(process.execPath, [BIN, 'join', code, 'doc', '--timeout', '60s'], { env: guest.env })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
    await new Promise((r) => setTimeout(r, 1500))
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    expect(stderr).toBe('swarmpad: join cancelled; nothing was added\n')
    await waitFor(async () => JSON.parse(await guest.ok(['ls', '--json'])).documents.length === 0, 'the library to stay empty', 5000)
    expect(await libraryNames(guest)).toEqual([])

    // A foreground daemon stops on SIGINT and says so.
    await guest.ok(['stop'])
    const daemon = spawn(process.execPath, [BIN, 'daemon'], { env: guest.env })
    let out = ''
    daemon.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const daemonExit = new Promise<number | null>((r) => daemon.on('exit', (c) => r(c)))
    await waitFor(() => out.includes('Ctrl-C stops it'), 'the foreground daemon', 20_000)
    await guest.ok(['write', 'doc'], { input: 'x' }).catch(() => {}) // no such document: fine, the daemon answers
    daemon.kill('SIGINT')
    expect(await daemonExit).toBe(0)
    expect(out).toMatch(/swarmpad daemon stopped; every edit is saved\n$/)
    expect(await guest.daemon()).toBeNull()
    expect(await exists(join(guest.home, 'swarmpad.pid'))).toBe(false)
  })
})
