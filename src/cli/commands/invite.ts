import { Option, type Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg, parseDuration } from '../input.js'
import { formatTime, lines, printJson } from '../output.js'
import type { CreatedInvite } from '../../pairing/invites.js'

export function register(program: Command): void {
  program
    .command('invite')
    .description('print a one-time invite code for a document (writer and owner invites: this device must be online when it is used)')
    .argument('<name>', 'document name or key')
    .addOption(new Option('--role <role>', 'writer (a collaborator), owner (your own other device) or read-only').choices(['writer', 'owner', 'read-only']).default('writer'))
    .option('--expires <duration>', 'how long the invite is valid: 30m, 12h, 7d, 2w ... (default 7d)')
    .option('--json', 'print the invite as JSON')
    .action(async (name: string, opts: { role: string; expires?: string; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const expires = opts.expires === undefined ? undefined : parseDuration(opts.expires)
      const role = opts.role === 'read-only' ? 'reader' : opts.role
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const invite = await client.json<CreatedInvite & { name: string }>('POST', '/api/invite', { json: { doc: name, role, expires } })
      if (opts.json) return printJson(invite)
      await lines(invite.code)
      ctx.progress(`${invite.role === 'reader' ? 'read-only' : `one-time ${invite.role}`} invite to ${invite.name}, valid until ${formatTime(invite.expires)}; on the other device: swarmpad join CODE`)
    })
}
