// Devices that run the installed `swarmpad` (see installed.ts) on one
// loopback testnet: default settings except what keeps traffic on this
// machine (SWARMPAD_BOOTSTRAP = the testnet, SWARMPAD_LAN=0).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import createTestnet, { type Testnet } from 'hyperdht/testnet'
import { stopHome, waitFor } from '../helpers/cli.js'
import { installedSwarmpad, runCommand, userEnv, type Run } from './installed.js'

export type { Run }

export interface Device {
  /// The scratch directory of this device (its home is `dir/home`).
  dir: string
  home: string
  /// The environment a user of this device has (for commands run through a terminal).
  env: NodeJS.ProcessEnv
  run(args: string[], input?: string): Promise<Run>
  ok(args: string[], input?: string): Promise<string>
}

export class InstalledNet {
  bin = ''
  private testnet: Testnet | null = null
  private readonly devices: Device[] = []

  async ready(): Promise<void> {
    this.bin = installedSwarmpad()
    this.testnet = await createTestnet(3, { host: '127.0.0.1' })
    for (const b of this.testnet.bootstrap) if (b.host !== '127.0.0.1') throw new Error('testnet is not on loopback')
  }

  get bootstrap(): string {
    return this.testnet!.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  }

  async device(): Promise<Device> {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpad-accept-'))
    const home = join(dir, 'home')
    const env = userEnv(home, { SWARMPAD_BOOTSTRAP: this.bootstrap, SWARMPAD_LAN: '0', HOME: dir, TMPDIR: dir })
    const bin = this.bin
    const run = (args: string[], input?: string): Promise<Run> => runCommand(bin, args, env, input)
    const ok = async (args: string[], input?: string): Promise<string> => {
      const r = await run(args, input)
      if (r.code !== 0) throw new Error(`swarmpad ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
      return r.stdout
    }
    const d: Device = { dir, home, env, run, ok }
    this.devices.push(d)
    return d
  }

  /// A new document on `owner` with `text`, joined by each guest.
  async share(owner: Device, guests: Device[], name: string, text: string): Promise<void> {
    await owner.ok(['new', name, '--stdin'], text)
    for (const guest of guests) {
      const code = (await owner.ok(['invite', name])).trim().split('\n').pop()!.trim()
      await guest.ok(['join', code, name])
    }
  }

  /// Wait until every device shows the same text of `name`; returns it.
  async converge(devices: Device[], name: string, ms = 30_000): Promise<string> {
    let texts: string[] = []
    await waitFor(async () => {
      texts = await Promise.all(devices.map((d) => d.ok(['cat', name])))
      return texts.every((t) => t === texts[0])
    }, `the devices to show the same text of ${name}`, ms).catch(() => {
      throw new Error(`texts differ: ${JSON.stringify(texts)}`)
    })
    return texts[0]!
  }

  async close(): Promise<void> {
    for (const d of this.devices) await stopHome(d.home).catch(() => {})
    await this.testnet?.destroy()
    for (const d of this.devices) await rm(d.dir, { recursive: true, force: true }).catch(() => {})
  }
}
