// Two devices, two daemons, one loopback testnet: the README's walk-through.
import { describe, expect, it } from 'vitest'
import { cliNet, logTail, waitFor } from '../helpers/cli.js'

describe('two devices', () => {
  it('new -> invite -> join -> write on each -> cat equal on both; a used invite is refused; the owner removes the writer', async () => {
    const net = await cliNet()
    const ann = await net.device()
    const bob = await net.device()
    await ann.ok(['whoami', '--name', 'Ann', '--color', '#aa3355'])
    await bob.ok(['whoami', '--name', 'Bob'])
    await ann.ok(['new', 'notes', '--stdin'], { input: 'from Ann\n' })
    const code = (await ann.ok(['invite', 'notes'])).trim()

    const t0 = performance.now()
    const joined = await bob.run(['join', code, 'shared'])
    const joinMs = performance.now() - t0
    expect(joined.code, joined.stderr + (await logTail(bob.home)) + (await logTail(ann.home))).toBe(0)
    expect(joined.stdout).toMatch(/^joined shared as writer\nkey: [a-z0-9]{52}\n$/)
    const key = joined.stdout.split('key: ')[1]!.trim()
    expect(JSON.parse(await ann.ok(['ls', '--json'])).documents[0].key).toBe(key)
    expect(await bob.ok(['cat', 'shared'])).toBe('from Ann\n')

    // Each writes; `write` replaces the whole text as a minimal diff against
    // what that device has when it runs.
    const t1 = performance.now()
    await bob.ok(['write', 'shared'], { input: 'from Ann\nand from Bob\n' })
    let seen: string[] = []
    const bothShow = async (expected: string, what: string) => {
      await waitFor(
        async () => {
          seen = [await ann.ok(['cat', 'notes']), await bob.ok(['cat', key])]
          return seen[0] === expected && seen[1] === expected
        },
        what,
        60_000
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: Ann has ${JSON.stringify(seen[0])}, Bob has ${JSON.stringify(seen[1])}\n${await ann.ok(['status'])}${await bob.ok(['status'])}${await logTail(ann.home)}${await logTail(bob.home)}`)
      })
    }
    await bothShow('from Ann\nand from Bob\n', "Bob's write on both devices")
    const syncMs = performance.now() - t1
    await ann.ok(['write', 'notes'], { input: 'Ann was here\nfrom Ann\nand from Bob\n' })
    const expected = 'Ann was here\nfrom Ann\nand from Bob\n'
    await bothShow(expected, "Ann's write on both devices")
    console.log(`two devices: join ${joinMs.toFixed(0)} ms; a write -> the same text on both ${syncMs.toFixed(0)} ms`)

    // Members, names and online state, as each device sees them.
    let members = ''
    await waitFor(async () => {
      members = await ann.ok(['members', 'notes', '--json'])
      const m = JSON.parse(members) as { members: Array<{ name: string; role: string; online: boolean; self: boolean }> }
      return m.members.some((x) => x.name === 'Bob' && x.role === 'writer' && x.online) && m.members.some((x) => x.name === 'Ann' && x.self && x.role === 'owner')
    }, "Bob's name and presence on Ann's device", 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: Ann's members ${members}\n${await ann.ok(['status'])}${await bob.ok(['members', key, '--json'])}\n${await logTail(ann.home)}${await logTail(bob.home)}`)
    })
    await waitFor(async () => /^ {2}notes +synced with 1 peer, 2 members/m.test(await ann.ok(['status'])), 'Ann synced with Bob', 30_000)
    expect(await bob.ok(['ls'])).toMatch(/^shared\s+writer\s+\d+ chars\s+2\s+1\s+synced with 1 peer$/m)
    expect(await ann.ok(['invites', 'notes'])).toMatch(/\swriter\s+used\s.*\s[a-z0-9]{8}$/m)

    // The invite worked once: Bob's device cannot use it again either (it is
    // refused locally, the document being in its library already). A third
    // device asking the owner gets INVITE_USED: test/integration/pairing-invites.
    const twice = await bob.run(['join', code])
    expect(twice.code).toBe(1)
    expect(twice.stderr).toBe('swarmpad: this document is already in the library as "shared"\n')

    // Ann removes Bob: his later writes reach nobody.
    await ann.ok(['remove', 'notes', 'Bob'])
    await waitFor(async () => !(await ann.ok(['members', 'notes'])).includes('Bob'), 'Bob removed on Ann', 30_000)
    await waitFor(async () => JSON.parse(await bob.ok(['ls', '--json'])).documents[0].writable === false, "Bob's device to see its removal", 30_000)
    const late = await bob.run(['write', 'shared'], { input: expected + 'too late\n' })
    expect(late.code).toBe(1)
    expect(late.stderr).toMatch(/^swarmpad: this device may read this document but not write to it\n$/)
    expect(await ann.ok(['cat', 'notes'])).toBe(expected)
    // Pairing between separate daemon processes on a fresh loopback testnet can
    // wait for HyperDHT's firewall check (see the closing report): allow for it.
  }, 240_000)

  it('remove --rekey between daemons: the writer that stays follows to the successor and keeps editing; the removed device gets nothing new', async () => {
    const net = await cliNet()
    const ann = await net.device()
    const bob = await net.device()
    const cy = await net.device()
    await bob.ok(['whoami', '--name', 'Bob'])
    await cy.ok(['whoami', '--name', 'Cy'])
    await ann.ok(['new', 'plan', '--stdin'], { input: 'step one\n' })
    await bob.ok(['join', (await ann.ok(['invite', 'plan'])).trim(), 'plan'])
    await cy.ok(['join', (await ann.ok(['invite', 'plan'])).trim(), 'plan'])
    const keyOf = async (d: typeof ann) => (JSON.parse(await d.ok(['ls', '--json'])) as { documents: Array<{ key: string }> }).documents[0]!.key
    const oldKey = await keyOf(ann)
    // Cy must have written its profile (it did on joining) for Ann to know its name.
    await waitFor(async () => (await ann.ok(['members', 'plan'])).includes('Cy'), "Cy's name on Ann's device", 60_000)

    const t0 = performance.now()
    const removed = await ann.ok(['remove', 'plan', 'Cy', '--rekey'])
    const rekeyMs = performance.now() - t0
    const newKey = /new key ([a-z0-9]{52})/.exec(removed)?.[1]
    expect(removed, removed).toMatch(/^plan moved to fresh keys \(new key [a-z0-9]{52}\); 1 member will follow$/m)
    expect(await keyOf(ann)).toBe(newKey)

    // Bob's daemon follows on its own: same local name, the successor's key.
    await waitFor(async () => (await keyOf(bob)) === newKey, "Bob's device to follow", 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await bob.ok(['ls'])}${await logTail(bob.home)}${await logTail(ann.home)}`)
    })
    const followMs = performance.now() - t0
    await waitFor(async () => (JSON.parse(await bob.ok(['ls', '--json'])) as { documents: Array<{ writable: boolean }> }).documents[0]!.writable, 'Bob writable on the successor', 60_000)
    console.log(`re-key between daemons: remove --rekey ${rekeyMs.toFixed(0)} ms; Bob's device on the successor ${followMs.toFixed(0)} ms, writable ${(performance.now() - t0).toFixed(0)} ms after the command started`)
    await bob.ok(['write', 'plan'], { input: 'step one\nstep two (after the re-key)\n' })
    await waitFor(async () => (await ann.ok(['cat', 'plan'])) === 'step one\nstep two (after the re-key)\n', "Bob's edit on Ann's successor", 60_000)

    // Cy stays online with the old document and sees none of it.
    expect(await keyOf(cy)).toBe(oldKey)
    expect(await cy.ok(['cat', 'plan'])).toBe('step one\n')
    const late = await cy.run(['write', 'plan'], { input: 'step one\nCy was here\n' })
    expect(late.code).toBe(1)
    expect(await ann.ok(['cat', 'plan'])).toBe('step one\nstep two (after the re-key)\n')
  }, 240_000)
})
