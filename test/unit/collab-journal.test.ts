// The authority's crash journal (src/server/journal.ts): which tab updates of
// an earlier run reached the log, decided from the next run's start clock.
import { describe, expect, test } from 'vitest'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EditJournal } from '../../src/server/journal.js'
import { CollabHub, type Connection } from '../../src/server/collab.js'
import { Swarmpad } from '../../src/swarmpad.js'
import type { ServerMessage } from '../../src/server/protocol.js'
import { tmpDir } from '../helpers/tmp.js'
import { eventually } from '../helpers/docs.js'

async function journalAt(dir: string, epoch: string, clock: number): Promise<EditJournal> {
  const j = new EditJournal(join(dir, 'doc.log'), epoch, clock)
  j.onError = (err) => {
    throw err
  }
  j.open()
  return j
}

describe('EditJournal', () => {
  test('an update reached the log iff the next run started with a clock >= its end', async () => {
    const dir = await tmpDir()
    const run1 = await journalAt(dir, 'e1', 100)
    run1.record('tab', 0, 100, 105) // inserts 5
    run1.record('tab', 1, 105, 105) // deletes only
    run1.record('tab', 2, 105, 110)
    run1.record('tab', 3, 110, 120)
    run1.record('other', 0, 120, 121)
    run1.close()

    // The crash lost everything after clock 110.
    const run2 = await journalAt(dir, 'e2', 110)
    expect(run2.appliedThrough('tab')).toBe(2)
    expect(run2.appliedThrough('other')).toBe(-1)
    expect(run2.appliedThrough('nobody')).toBe(-1)
    expect(run2.lastSeq('tab')).toBe(3)
    run2.close()
  })

  test('a deletion counts as saved only if something inserted after it was', async () => {
    const dir = await tmpDir()
    const run1 = await journalAt(dir, 'e1', 100)
    run1.record('tab', 0, 100, 105)
    run1.record('tab', 1, 105, 105) // deletion at clock 105
    run1.close()
    // Next run starts at 105: the deletion may or may not have been saved; it is sent again.
    expect((await journalAt(dir, 'e2', 105)).appliedThrough('tab')).toBe(0)
  })

  test('each run is judged by the run right after it, not a later one', async () => {
    const dir = await tmpDir()
    const run1 = await journalAt(dir, 'e1', 0)
    run1.record('tab', 0, 0, 10)
    run1.record('tab', 1, 10, 20) // lost in the crash
    run1.close()
    const run2 = await journalAt(dir, 'e2', 10) // started with only seq 0 saved
    run2.record('other', 0, 10, 30) // another tab reuses clocks 10..30, saved
    run2.close()
    const run3 = await journalAt(dir, 'e3', 30)
    // Clock 30 >= 20, but seq 1 belongs to run e1, which ended at clock 10.
    expect(run3.appliedThrough('tab')).toBe(0)
    expect(run3.appliedThrough('other')).toBe(0)
    run3.close()
  })

  test('damaged lines are skipped; old runs are compacted away', async () => {
    const dir = await tmpDir()
    await writeFile(join(dir, 'doc.log'), 'S e0 0\nU e0 tab 0 0 5\ngarbage\nU e0 tab x 5 9\nU e0 tab 1 9 5\nS e0\n\u0000\u0001\n')
    const j = await journalAt(dir, 'e1', 5)
    expect(j.appliedThrough('tab')).toBe(0)
    j.close()
    for (let i = 2; i < 10; i++) (await journalAt(dir, `e${i}`, 5)).close()
    const text = await readFile(join(dir, 'doc.log'), 'utf8')
    expect(text).not.toContain('garbage')
    expect(text.match(/^S /gm)!.length).toBeLessThanOrEqual(5)
    expect(text).not.toContain('S e0 ')
  })

  test('a journal that cannot be written does not stop editing', async () => {
    const dir = await tmpDir()
    await mkdir(join(dir, 'doc.log')) // a directory where the file should be
    const errors: unknown[] = []
    const j = new EditJournal(join(dir, 'doc.log'), 'e1', 0)
    j.onError = (e) => errors.push(e)
    j.open()
    j.record('tab', 0, 0, 1)
    expect(errors.length).toBeGreaterThan(0)
    j.close()
  })
})

describe('the authority uses the journal after a restart', () => {
  test('welcome.applied names what reached the log before the crash', async () => {
    const home = await tmpDir('swarmpad-journal-')
    let sp = new Swarmpad({ home, ackInterval: 0 })
    await sp.ready()
    const { doc, entry } = await sp.create('notes.md', { text: 'hello' }) // this device's clock: 5
    expect(doc.localClock).toBe(5)
    await sp.close()
    // A run "e0" that started at clock 0 and accepted three updates of tab X;
    // only the first two (up to clock 5) reached the log before it crashed.
    await mkdir(join(home, 'collab'), { recursive: true })
    await writeFile(join(home, 'collab', `${entry.key}.log`), 'S e0 0\nU e0 tabX 0 0 3\nU e0 tabX 1 3 5\nU e0 tabX 2 5 9\n')

    sp = new Swarmpad({ home, ackInterval: 0 })
    await sp.ready()
    const hub = new CollabHub(sp)
    try {
      const got: ServerMessage[] = []
      const conn: Connection = hub.connect({ send: (d) => got.push(JSON.parse(d) as ServerMessage), close: () => {}, bufferedAmount: 0 })
      conn.receive(JSON.stringify({ type: 'join', doc: 'notes.md', clientID: 'tabX', resume: { epoch: 'e0', version: 3 } }))
      await eventually(() => got.some((m) => m.type === 'welcome'), 'the welcome')
      const w = got.find((m) => m.type === 'welcome') as Extract<ServerMessage, { type: 'welcome' }>
      expect(w.mode).toBe('reset')
      expect(w.text).toBe('hello')
      expect(w.applied).toBe(1)
      // The journal now holds this run too.
      const text = await readFile(join(home, 'collab', `${entry.key}.log`), 'utf8')
      expect(text).toMatch(new RegExp(`^S ${w.epoch} 5$`, 'm'))
    } finally {
      await hub.close()
      await sp.close()
    }
  })
})
