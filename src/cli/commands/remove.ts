import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, shortKey } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import { notAvailable, pairingAvailable } from '../pairing.js'
import type { MemberSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('remove')
    .description('remove a member from a document (owners only); --rekey also moves the others to fresh keys')
    .argument('<name>', 'document name or key')
    .argument('<member>', "the member's name, key, or the start of its key (see `swarmpad members`)")
    .option('--rekey', 'move the remaining members to a successor document with fresh keys')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, member: string, opts: { rekey?: boolean; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      if (member.trim() === '') throw SwarmpadError.usage('a member cannot be empty; see `swarmpad members NAME`')
      // Refuse before removing anything: half of "remove --rekey" would be worse than none.
      if (opts.rekey && !(await pairingAvailable())) throw notAvailable('swarmpad remove --rekey')
      const client = await Context.of(cmd).daemon()
      const result = await client.json<{ name: string; removed: MemberSummary }>('POST', '/api/members/remove', { json: { doc: name, member, rekey: opts.rekey === true } })
      if (opts.json) return printJson(result)
      await lines(`removed ${result.removed.name || shortKey(result.removed.key)} from ${result.name}`)
    })
}
