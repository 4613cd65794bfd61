// The storage root: Swarmpad's library and documents across restarts, the
// pid lock, and a damaged library.
import { describe, expect, test } from 'vitest'
import { spawn } from 'node:child_process'
import { readFile, writeFile, stat } from 'node:fs/promises'
import { onTestFinished } from 'vitest'
import { Swarmpad } from '../../src/swarmpad.js'
import { rootPaths } from '../../src/storage/paths.js'
import { formatKey } from '../../src/storage/keys.js'
import { isSwarmpadError } from '../../src/errors.js'
import { tmpDir } from '../helpers/tmp.js'

async function openPad(home: string): Promise<Swarmpad> {
  const pad = new Swarmpad({ home, ackInterval: 0 })
  onTestFinished(() => pad.close().catch(() => {}))
  await pad.ready()
  return pad
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<string> {
  try {
    await p
  } catch (err) {
    if (!isSwarmpadError(err)) throw err
    expect(err.code).toBe(code)
    if (message) expect(err.message).toMatch(message)
    return err.message
  }
  throw new Error(`expected ${code}, but it succeeded`)
}

/// A process that runs until the test ends (its pid is alive).
function liveProcess(): number {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  onTestFinished(() => {
    child.kill('SIGKILL')
  })
  return child.pid!
}

/// The pid of a process that has exited.
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  const pid = child.pid!
  await new Promise((r) => child.on('exit', r))
  return pid
}

describe('storage root and library', () => {
  test('create, list, open, edit and reopen documents across restarts', async () => {
    const home = await tmpDir()
    let pad = await openPad(home)
    const notes = await pad.create('notes', { text: 'hello' })
    const other = await pad.create('other doc')
    other.doc.edit([{ from: 0, insert: 'second' }])
    await other.doc.flush()
    expect(pad.library.list().map((e) => e.name).sort()).toEqual(['notes', 'other doc'])
    expect(notes.entry.role).toBe('owner')
    const key = notes.entry.key
    await expectCode(pad.create('notes'), 'DOC_EXISTS')
    await expectCode(pad.create('a/b'), 'BAD_ARGUMENT')
    await expectCode(pad.open('missing'), 'DOC_NOT_FOUND', /notes/)
    notes.doc.edit([{ from: 5, insert: ', world' }])
    await notes.doc.flush()
    await pad.close()

    // Restart: the library and both documents are there, each with its own text.
    pad = await openPad(home)
    expect(pad.library.list().map((e) => e.name).sort()).toEqual(['notes', 'other doc'])
    const again = await pad.open('notes')
    expect(again.doc.text.toString()).toBe('hello, world')
    expect(await pad.open('notes')).toBe(again) // memoised
    const byKey = await pad.open(formatKey(Buffer.from(key, 'hex')))
    expect(byKey).toBe(again)
    const second = await pad.open('other doc')
    expect(second.doc.text.toString()).toBe('second')
    expect(again.entry.lastOpened).toBeGreaterThanOrEqual(notes.entry.lastOpened)
    again.doc.edit([{ from: 0, insert: '> ' }])
    await pad.closeDocument('notes')
    expect(pad.documents.map((d) => d.entry.name)).toEqual(['other doc'])
    const reopened = await pad.open('notes')
    expect(reopened.doc.text.toString()).toBe('> hello, world')
    await pad.close()

    pad = await openPad(home)
    expect((await pad.open(key)).doc.text.toString()).toBe('> hello, world')
    const file = JSON.parse(await readFile(rootPaths(home).library, 'utf8'))
    expect(file.version).toBe(1)
    expect(file.documents).toHaveLength(2)
    expect((await stat(rootPaths(home).library)).mode & 0o777).toBe(0o600)
  })

  test('a malformed library.json gives LIBRARY_CORRUPT and is left untouched', async () => {
    const home = await tmpDir()
    let pad = await openPad(home)
    await pad.create('keep me')
    await pad.close()
    const path = rootPaths(home).library
    for (const bad of ['{ not json', '[]', '{"version":1,"documents":[{"name":"x"}]}', '{"version":1}', 'null']) {
      await writeFile(path, bad)
      const p = new Swarmpad({ home })
      await expectCode(p.ready(), 'LIBRARY_CORRUPT', /left untouched/)
      expect(await readFile(path, 'utf8')).toBe(bad)
      // The failed open released the root.
      await expect(readFile(rootPaths(home).lock, 'utf8')).rejects.toThrow()
    }
    await writeFile(path, JSON.stringify({ version: 2, documents: [] }))
    await expectCode(new Swarmpad({ home }).ready(), 'LIBRARY_CORRUPT', /newer swarmpad/)
    // Fixed by hand: opens again.
    await writeFile(path, JSON.stringify({ version: 1, documents: [] }))
    pad = await openPad(home)
    expect(pad.library.list()).toEqual([])
  })

  test('a second Swarmpad on the same root gets STORAGE_LOCKED "in use by pid N"; a stale pid file is replaced', async () => {
    const home = await tmpDir()
    const lock = rootPaths(home).lock

    // Another live process holds the root.
    const other = liveProcess()
    await openPad(home).then((p) => p.close()) // creates the root
    await writeFile(lock, `${other}\n`)
    const message = await expectCode(new Swarmpad({ home }).ready(), 'STORAGE_LOCKED', new RegExp(`in use by pid ${other}`))
    expect(message).toContain(home)
    expect(await readFile(lock, 'utf8')).toBe(`${other}\n`)

    // A pid file left by a process that is gone is stale: replaced.
    const dead = await deadPid()
    await writeFile(lock, `${dead}\n`)
    let pad = await openPad(home)
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`)
    await pad.close()
    await expect(readFile(lock, 'utf8')).rejects.toThrow() // released on close

    // A pid that now belongs to another program (not Node.js: a reboot reused
    // the number) is stale too.
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' })
    onTestFinished(() => void sleeper.kill('SIGKILL'))
    await writeFile(lock, `${sleeper.pid}\n`)
    pad = await openPad(home)
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`)
    await pad.close()

    // Garbage in the pid file is stale too.
    await writeFile(lock, 'garbage')
    pad = await openPad(home)

    // A second Swarmpad in this same process is refused as well, and its
    // failed open leaves the first one's lock in place.
    await expectCode(new Swarmpad({ home }).ready(), 'STORAGE_LOCKED', new RegExp(`in use by pid ${process.pid}`))
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`)
    await expectCode(new Swarmpad({ home }).ready(), 'STORAGE_LOCKED')
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`)
    const doc = await pad.create('still mine')
    expect(doc.doc.writable).toBe(true)
    await pad.close()
    pad = await openPad(home)
    expect(pad.library.list().map((e) => e.name)).toEqual(['still mine'])
    await pad.close()

    // Two opening at the same time: exactly one gets the root.
    const racers = [new Swarmpad({ home }), new Swarmpad({ home })]
    for (const r of racers) onTestFinished(() => r.close().catch(() => {}))
    const results = await Promise.allSettled(racers.map((r) => r.ready()))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(isSwarmpadError(lost.reason, 'STORAGE_LOCKED')).toBe(true)
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`)
  })
})
