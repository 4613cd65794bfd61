// security (issue 13, item 5): secrets never in process arguments, which
// every user of the machine can read (/proc/PID/cmdline, `ps`).
import { describe, expect, it } from 'vitest'
import { readdir, readFile } from 'node:fs/promises'
import { cliNet } from '../helpers/cli.js'

/// Every process's command line on this machine that contains `secret`.
async function processesShowing(secret: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ')
      if (cmdline.includes(secret)) found.push(`${pid}: ${cmdline.slice(0, 120)}`)
    } catch {}
  }
  return found
}

/// Scan the process table while `running` is pending; what was seen.
async function scanWhile(running: Promise<unknown>, secret: string): Promise<string[]> {
  let done = false
  void running.finally(() => (done = true))
  const seen = new Set<string>()
  while (!done) {
    for (const p of await processesShowing(secret)) seen.add(p)
    await new Promise((r) => setTimeout(r, 100))
  }
  return [...seen]
}

describe.skipIf(process.platform !== 'linux')('secrets and the process table', () => {
  it('join - reads the invite code from stdin and no process shows it while the join waits; the daemon never gets it as an argument', async () => {
    const net = await cliNet()
    const owner = await net.device()
    const guest = await net.device()
    await owner.ok(['new', 'doc'])
    const code = (await owner.ok(['invite', 'doc'])).trim()
    await owner.stop() // the join waits for an inviting device that is not there
    await guest.ok(['status']).catch(() => '')
    const piped = guest.run(['join', '-', 'mine', '--timeout', '4s'], { input: `${code}\n` })
    const seen = await scanWhile(piped, code.slice(0, 40))
    const r = await piped
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no answer within/)
    expect(seen).toEqual([])
    // Positive control: given as an argument, the code is in the process table.
    const inArgs = guest.run(['join', code, 'mine', '--timeout', '3s'])
    const seenArgs = await scanWhile(inArgs, code.slice(0, 40))
    await inArgs
    expect(seenArgs.length).toBeGreaterThan(0)
    // And an empty stdin is a usage error naming both ways.
    const empty = await guest.run(['join'], { input: '' })
    expect(empty.code).toBe(2)
    expect(empty.stderr).toMatch(/no invite code: give it on standard input \(`swarmpad join -`\) or as an argument/)
  }, 90_000)

  it('open never shows the command token or a ticket in a process; the daemon process has no secret in its arguments', async () => {
    const net = await cliNet()
    const d = await net.device()
    await d.ok(['new', 'doc'])
    const url = (await d.ok(['open', 'doc', '--no-browser'])).trim()
    const info = (await d.daemon())!
    const ticket = /#ticket=([^&]+)/.exec(url)![1]!
    expect(await processesShowing(info.token)).toEqual([])
    expect(await processesShowing(ticket)).toEqual([])
  })
})
