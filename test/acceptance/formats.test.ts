import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '../helpers/cli.js'
import { InstalledNet } from './harness.js'
import { lockNamespaces } from '../lan/netns.js'

// The installed command (npm pack + npm install -g) on a storage root made by
// the release before format 2 (test/fixtures/v1-roots): its documents stay
// format 1 and say so; `swarmpad upgrade` moves one to format 2 and a member
// that joined it follows. Default settings except what keeps traffic here.

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v1-roots')
type Ls = { documents: Array<{ name: string; format: number }> }

describe('acceptance: documents of an older release, and swarmpad upgrade', () => {
  const net = new InstalledNet()

  // Not beside the namespace suites (see test/integration/v1-roots.test.ts).
  let unlock: (() => void) | null = null
  beforeAll(async () => {
    unlock = await lockNamespaces()
    await net.ready()
  }, 600_000)
  afterAll(async () => {
    await net.close()
    unlock?.()
  }, 60_000)

  it('an older root shows format 1; upgrade moves a document to format 2 and its member follows with the same text', async () => {
    const ann = await net.device()
    await cp(join(FIXTURE, 'ann'), ann.home, { recursive: true })
    // (git drops the device file's extended attribute: see test/integration/v1-roots.test.ts.)
    await rm(join(ann.home, 'cores', 'CORESTORE'), { force: true })
    const manifest = JSON.parse(await readFile(join(FIXTURE, 'manifest.json'), 'utf8')) as Record<string, { text: string }>
    const team = manifest['team.md']!.text

    await ann.ok(['ls']) // starts the daemon (`status` only reports on one)
    const status = await ann.ok(['status'])
    expect(status).toMatch(/team\.md .*format 1 \(also read by older swarmpad\)/)
    await ann.ok(['new', 'fresh.md'])
    const formats = async (d: typeof ann) => Object.fromEntries((JSON.parse(await d.ok(['ls', '--json'])) as Ls).documents.map((x) => [x.name, x.format]))
    expect(await formats(ann)).toMatchObject({ 'team.md': 1, 'fresh.md': 2 })

    if (process.env.SWARMPAD_V1_JOIN === '1') {
      // A device of this release joins the format 1 document, then Ann
      // upgrades it and the member follows. Opt-in: a join of a format 1
      // document sometimes never completes under CPU load (README known
      // issues; it failed here in 2 of 5 fresh-clone CI runs on 2026-12-04).
      const dan = await net.device()
      const code = (await ann.ok(['invite', 'team.md'])).trim().split('\n').pop()!.trim()
      await dan.ok(['join', code, 'team.md'])
      expect(await net.converge([ann, dan], 'team.md')).toBe(team)
      expect((await formats(dan))['team.md']).toBe(1)

      const out = await ann.ok(['upgrade', 'team.md'])
      expect(out).toMatch(/team\.md moved to format 2 .* will follow/)
      await waitFor(async () => (await formats(dan))['team.md'] === 2, 'Dan to follow team.md to format 2', 60_000)
      expect((await formats(ann))['team.md']).toBe(2)
      expect(await net.converge([ann, dan], 'team.md')).toBe(team)
      await dan.ok(['write', 'team.md', '-'], team + 'after the upgrade\n')
      expect(await net.converge([ann, dan], 'team.md')).toBe(team + 'after the upgrade\n')
    } else {
      // Ann upgrades the format 1 document on her own (its members follow
      // when they next connect): the same text, format 2, and it takes edits.
      const out = await ann.ok(['upgrade', 'team.md'])
      expect(out).toMatch(/team\.md moved to format 2/)
      expect((await formats(ann))['team.md']).toBe(2)
      expect(await ann.ok(['cat', 'team.md'])).toBe(team)
      await ann.ok(['write', 'team.md', '-'], team + 'after the upgrade\n')
      expect(await ann.ok(['cat', 'team.md'])).toBe(team + 'after the upgrade\n')
    }

    // Upgrading again is refused with the reason.
    const again = await ann.run(['upgrade', 'team.md'])
    expect(again.code).not.toBe(0)
    expect(again.stderr).toMatch(/already in format 2/)
  }, 240_000)
})
