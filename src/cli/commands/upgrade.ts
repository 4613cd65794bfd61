import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, plural, printJson, warn } from '../output.js'
import type { RekeyResult } from '../../pairing/invite-types.js'

export function register(program: Command): void {
  program
    .command('upgrade')
    .description('move a format 1 document (made by an older swarmpad) to the newest format (owners only): a successor with fresh keys that every member follows, as a re-key does, removing nobody')
    .argument('<name>', 'document name or key')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const client = await Context.of(cmd).daemon()
      const result = await client.json<RekeyResult>('POST', '/api/upgrade', { json: { doc: name } })
      if (opts.json) return printJson(result)
      await lines(
        `${result.name} moved to format 2 (new key ${result.key}); ${plural(result.sealed.length, 'member')} will follow`,
        'members on an older swarmpad see "needs a newer swarmpad" until they upgrade, then follow within 30 days'
      )
      if (result.unreachable.length > 0) {
        warn(`${plural(result.unreachable.length, 'member')} never wrote anything this device received and cannot follow: invite them again (${result.unreachable.map((k) => k.slice(0, 8)).join(', ')})`)
      }
    })
}
