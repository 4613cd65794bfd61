import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, table, formatTime } from '../output.js'
import type { InviteInfo } from '../../pairing/invites.js'

export function register(program: Command): void {
  program
    .command('invites')
    .description("list a document's writer and owner invites, or cancel one")
    .argument('<name>', 'document name or key')
    .option('--cancel <id>', 'cancel the invite with this id (or its first 4+ characters)')
    .option('--json', 'print the list as JSON')
    .action(async (name: string, opts: { cancel?: string; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const client = await Context.of(cmd).daemon()
      if (opts.cancel !== undefined) {
        const r = await client.json<{ name: string; invite: InviteInfo }>('POST', '/api/invites/cancel', { json: { doc: name, id: opts.cancel } })
        return opts.json ? printJson(r) : lines(`cancelled invite ${r.invite.id} to ${r.name}`)
      }
      const r = await client.json<{ name: string; invites: InviteInfo[] }>('GET', '/api/invites', { query: { doc: name } })
      if (opts.json) return printJson(r)
      if (r.invites.length === 0) return lines(`no invites for ${r.name}; make one with \`swarmpad invite ${r.name}\``)
      await lines(
        ...table(
          ['ID', 'ROLE', 'STATE', 'CREATED', 'EXPIRES', 'USED BY'],
          r.invites.map((i) => [i.id, i.role, i.state, formatTime(i.created), formatTime(i.expires), i.usedBy ? i.usedBy.slice(0, 8) : '-'])
        )
      )
    })
}
