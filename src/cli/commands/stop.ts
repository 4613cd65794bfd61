import type { Command } from 'commander'
import { Context } from '../context.js'
import { stopDaemon } from '../client.js'
import { lines } from '../output.js'

export function register(program: Command): void {
  program
    .command('stop')
    .description('stop the daemon of this storage root; every edit it holds is saved first')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd)
      const stopped = await stopDaemon(ctx)
      if (stopped === null) return lines('swarmpad is not running')
      await lines(`stopped swarmpad (pid ${stopped.pid}); every edit is saved`)
    })
}
