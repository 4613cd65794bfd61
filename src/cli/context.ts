import type { Command } from 'commander'
import { resolveHome, rootPaths } from '../storage/paths.js'
import { SwarmpadError } from '../errors.js'
import { ensureDaemon, findDaemon, type DaemonClient } from './client.js'
import { warn } from './output.js'

/// The global options every command takes.
export interface GlobalOptions {
  home?: string
  bootstrap?: string
  /// false with --no-lan.
  lan?: boolean
}

/// What a command knows about where it runs: the storage root, the network
/// settings a daemon it starts gets, and how to reach that daemon.
export class Context {
  readonly home: string
  readonly paths: ReturnType<typeof rootPaths>
  /// host:port[,host:port] or null for the public DHT.
  readonly bootstrap: string | null
  readonly lan: boolean
  /// Whether the network settings were given (flag or environment), not defaults.
  private readonly bootstrapGiven: boolean

  constructor(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    if (globals.home !== undefined && globals.home.trim() === '') throw SwarmpadError.usage('--home needs a directory')
    this.home = resolveHome(globals.home ?? null, env)
    this.paths = rootPaths(this.home)
    const bootstrap = globals.bootstrap ?? env.SWARMPAD_BOOTSTRAP ?? null
    this.bootstrap = bootstrap === null || bootstrap === '' ? null : bootstrap
    this.bootstrapGiven = globals.bootstrap !== undefined
    this.lan = globals.lan !== false && env.SWARMPAD_LAN !== '0'
  }

  static of(cmd: Command): Context {
    return new Context(cmd.optsWithGlobals<GlobalOptions>())
  }

  /// Progress for people: only when stderr is a terminal.
  progress(message: string): void {
    if (process.stderr.isTTY) process.stderr.write(message + '\n')
  }

  /// The daemon, started if it is not running.
  async daemon(): Promise<DaemonClient> {
    const client = await ensureDaemon(this)
    await this.checkSettings(client)
    return client
  }

  /// The daemon if it runs; never starts one.
  async runningDaemon(): Promise<DaemonClient | null> {
    const client = await findDaemon(this)
    if (client !== null) await this.checkSettings(client)
    return client
  }

  /// A daemon keeps the network settings it was started with: say so when
  /// this command asked for others (and check the value asked for).
  private async checkSettings(client: DaemonClient): Promise<void> {
    const net = client.info.network
    if (net === null) return
    if (this.bootstrapGiven && this.bootstrap !== net.bootstrap) {
      if (this.bootstrap !== null) {
        const { parseBootstrap } = await import('../net/bootstrap.js')
        parseBootstrap(this.bootstrap)
      }
      warn(`the running daemon uses --bootstrap ${net.bootstrap ?? '(public DHT)'}; run \`swarmpad stop\` first to use ${this.bootstrap ?? 'the public DHT'}`)
    }
  }
}
