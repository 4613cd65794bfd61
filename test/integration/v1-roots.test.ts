// The long now: storage roots written by format v1 open with today's code,
// with the same documents, text, history, members and invites, and keep
// working (issue 15). The fixture was made by the command line at v1 (see
// test/fixtures/v1-roots/README.md): on a loopback testnet, Ann made
// history.md (531 writes), team.md (Bob and Cid joined, Bob wrote, Cid was
// removed, a 365-day invite), secret.md (Bob and Cid joined, Cid removed
// with --rekey, Ann wrote), then stopped her daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliNet } from '../helpers/cli.js'
import { lockNamespaces } from '../lan/netns.js'

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v1-roots')

interface Manifest {
  ls: Array<{ name: string; key: string; role: string }>
  invites: Array<{ id: string; role: string; state: string }>
  [doc: string]: unknown
}
interface DocFacts {
  text: string
  log: number
  members: Array<{ name: string; role: string; key: string }>
}

describe('v1 storage roots', () => {
  // Not beside the namespace suites: the join of a v1 document here timed
  // out in two fresh-clone CI runs that ran it next to test/lan (and alone
  // under a CPU hog, on the code before this change too).
  let unlock: (() => void) | null = null
  beforeAll(async () => {
    unlock = await lockNamespaces()
  }, 300_000)
  afterAll(() => unlock?.())

  it('open with the same documents, text, history, members and invites, and keep taking edits', async () => {
    const manifest = JSON.parse(await readFile(join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest
    const dir = await mkdtemp(join(tmpdir(), 'swarmpad-v1-'))
    try {
      const home = join(dir, 'home')
      await cp(join(FIXTURE, 'ann'), home, { recursive: true })
      // A root checked out by git has lost the device file's extended
      // attribute, which hypercore-storage takes for a copy made behind its
      // back. This fixture is no such copy (no other device holds newer logs
      // of its writers): drop the device file, as a restore tool would.
      await rm(join(home, 'cores', 'CORESTORE'), { force: true })
      const net = await cliNet()
      const ann = await net.device({ home })
      const ls = (JSON.parse(await ann.ok(['ls', '--json'])) as { documents: Array<{ name: string; key: string; role: string; state?: string }> }).documents
      expect(ls.map((d) => ({ name: d.name, key: d.key, role: d.role }))).toEqual(manifest.ls)
      for (const { name } of manifest.ls) {
        const facts = manifest[name] as DocFacts
        expect(await ann.ok(['cat', name]), name).toBe(facts.text)
        expect((JSON.parse(await ann.ok(['log', name, '--json', '--limit', '100000'])) as { total: number }).total, name).toBe(facts.log)
        const members = (JSON.parse(await ann.ok(['members', name, '--json'])) as { members: Array<{ name: string; role: string; key: string }> }).members
        expect(members.map((m) => ({ name: m.name, role: m.role, key: m.key })), name).toEqual(facts.members)
      }
      const invites = (JSON.parse(await ann.ok(['invites', 'team.md', '--json'])) as { invites: Array<{ id: string; role: string; state: string }> }).invites
      expect(invites.map((i) => ({ id: i.id, role: i.role, state: i.state }))).toEqual(manifest.invites)
      // And it goes on: an edit in each, kept across a restart.
      for (const { name } of manifest.ls) {
        const facts = manifest[name] as DocFacts
        await ann.ok(['write', name], { input: facts.text + 'edited by today\'s swarmpad\n' })
      }
      // A second device of today's build joins the v1 team.md (an invite
      // made now: the fixture's own pending one expires in 2027): it reads
      // and writes format 1 too, and both converge. Opt-in
      // (SWARMPAD_V1_JOIN=1): this join sometimes never completes under CPU
      // load (2 of 3 runs beside stress-ng --cpu 2, on the code of the stop
      // before too; README known issues; test/acceptance/formats.test.ts has
      // the same opt-in).
      if (process.env.SWARMPAD_V1_JOIN === '1') {
        const code = (JSON.parse(await ann.ok(['invite', 'team.md', '--json'])) as { code: string }).code
        const dan = await net.device()
        const joinStart = Date.now()
        await dan.ok(['join', '-', 'team.md'], { input: code + '\n', timeout: 150_000 })
        console.log(`v1 team.md: join took ${Date.now() - joinStart} ms`)
        const team = (manifest['team.md'] as DocFacts).text + 'edited by today\'s swarmpad\n'
        const until = async (check: () => Promise<boolean>, what: string) => {
          for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) if (await check()) return
          throw new Error(`timed out waiting for ${what}`)
        }
        await until(async () => (await dan.ok(['cat', 'team.md'])) === team, 'Dan to hold team.md')
        await dan.ok(['write', 'team.md'], { input: team + 'and by Dan\n' })
        await until(async () => (await ann.ok(['cat', 'team.md'])) === team + 'and by Dan\n', "Dan's edit to reach Ann")
        const danFormat = (JSON.parse(await dan.ok(['ls', '--json'])) as { documents: Array<{ name: string; format: number }> }).documents.find((d) => d.name === 'team.md')?.format
        expect(danFormat).toBe(1)
        await dan.ok(['stop'])
        await ann.ok(['write', 'team.md'], { input: team })
      }

      // A v1 document stays v1 (older swarmpad still reads what this one
      // writes into it); a new document is v2.
      await ann.ok(['new', 'fresh.md'])
      const formats = async () =>
        Object.fromEntries((JSON.parse(await ann.ok(['ls', '--json'])) as { documents: Array<{ name: string; format: number }> }).documents.map((d) => [d.name, d.format]))
      expect(await formats()).toEqual({ ...Object.fromEntries(manifest.ls.map((d) => [d.name, 1])), 'fresh.md': 2 })
      await ann.ok(['stop'])
      for (const { name } of manifest.ls) {
        expect(await ann.ok(['cat', name]), name).toBe((manifest[name] as DocFacts).text + 'edited by today\'s swarmpad\n')
      }
      expect(await formats()).toEqual({ ...Object.fromEntries(manifest.ls.map((d) => [d.name, 1])), 'fresh.md': 2 })

      // `swarmpad upgrade` moves a v1 document to format 2 (a successor that
      // every member follows, nobody removed): the same text, and it takes
      // edits; a v2 document is refused with a clear reason.
      const upgraded = JSON.parse(await ann.ok(['upgrade', 'history.md', '--json'])) as { name: string; removed: string | null; sealed: string[] }
      expect(upgraded).toMatchObject({ name: 'history.md', removed: null })
      const history = (manifest['history.md'] as DocFacts).text + 'edited by today\'s swarmpad\n'
      expect(await ann.ok(['cat', 'history.md'])).toBe(history)
      expect((await formats())['history.md']).toBe(2)
      await ann.ok(['write', 'history.md'], { input: history + 'in format 2\n' })
      expect(await ann.ok(['cat', 'history.md'])).toBe(history + 'in format 2\n')
      const again = await ann.run(['upgrade', 'history.md'])
      expect(again.code).not.toBe(0)
      expect(again.stderr).toMatch(/already in format 2/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 240_000)
})
