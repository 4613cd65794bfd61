import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, table, formatTime } from '../output.js'
import { notAvailable, pairingAvailable } from '../pairing.js'

interface InviteSummary {
  id: string
  role: string
  created: number
  expires: number
}

export function register(program: Command): void {
  program
    .command('invites')
    .description("list a document's open invites, or cancel one")
    .argument('<name>', 'document name or key')
    .option('--cancel <id>', 'cancel the invite with this id')
    .option('--json', 'print the list as JSON')
    .action(async (name: string, opts: { cancel?: string; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      if (!(await pairingAvailable())) throw notAvailable('swarmpad invites')
      const client = await Context.of(cmd).daemon()
      if (opts.cancel !== undefined) {
        const r = await client.json<{ id: string }>('POST', '/api/invites/cancel', { json: { doc: name, id: opts.cancel } })
        return opts.json ? printJson(r) : lines(`cancelled invite ${r.id}`)
      }
      const { invites } = await client.json<{ invites: InviteSummary[] }>('GET', '/api/invites', { query: { doc: name } })
      if (opts.json) return printJson({ invites })
      if (invites.length === 0) return lines('no open invites')
      await lines(...table(['ID', 'ROLE', 'CREATED', 'EXPIRES'], invites.map((i) => [i.id, i.role, formatTime(i.created), formatTime(i.expires)])))
    })
}
