import { Option, type Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson } from '../output.js'
import { notAvailable, pairingAvailable, parseDuration } from '../pairing.js'

export function register(program: Command): void {
  program
    .command('invite')
    .description('print a one-time invite code for a document')
    .argument('<name>', 'document name or key')
    .addOption(new Option('--role <role>', 'what the invited device may do').choices(['writer', 'owner', 'read-only']).default('writer'))
    .option('--expires <duration>', 'how long the invite is valid, e.g. 30m, 12h, 7d (default 7d)', '7d')
    .option('--json', 'print the invite as JSON')
    .action(async (name: string, opts: { role: string; expires: string; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const expires = parseDuration(opts.expires)
      if (!(await pairingAvailable())) throw notAvailable('swarmpad invite')
      const client = await Context.of(cmd).daemon()
      const invite = await client.json<{ code: string; id: string; expires: number }>('POST', '/api/invite', { json: { doc: name, role: opts.role, expires } })
      if (opts.json) return printJson(invite)
      await lines(invite.code)
    })
}
