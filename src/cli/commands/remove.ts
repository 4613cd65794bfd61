import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, plural, printJson, warn } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import type { RemoveResult } from '../../pairing/members.js'

export function register(program: Command): void {
  program
    .command('remove')
    .description('remove a member from a document (owners only); --rekey also moves the others to a successor document with fresh keys')
    .argument('<name>', 'document name or key')
    .argument('<member>', "the member's key, the start of its key (4+ characters) or its name (see `swarmpad members`)")
    .option('--rekey', 'move the remaining members to a successor with fresh keys, so the removed device reads nothing new')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, member: string, opts: { rekey?: boolean; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      if (member.trim() === '') throw SwarmpadError.usage('a member cannot be empty; see `swarmpad members NAME`')
      const client = await Context.of(cmd).daemon()
      const result = await client.json<RemoveResult & { name: string }>('POST', '/api/members/remove', { json: { doc: name, member, rekey: opts.rekey === true } })
      if (opts.json) return printJson(result)
      await lines(`removed ${result.removed.slice(0, 8)} from ${result.name}`)
      if (result.rekey !== null) {
        await lines(`${result.name} moved to fresh keys (new key ${result.rekey.key}); ${plural(result.rekey.sealed.length, 'member')} will follow`)
        if (result.rekey.unreachable.length > 0) {
          warn(`${plural(result.rekey.unreachable.length, 'member')} never wrote anything this device received and cannot follow: invite them again (${result.rekey.unreachable.map((k) => k.slice(0, 8)).join(', ')})`)
        }
      }
    })
}
