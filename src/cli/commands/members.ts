import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, shortKey, table } from '../output.js'
import type { MemberSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('members')
    .description("list a document's members: name, colour, role, device key, online")
    .argument('<name>', 'document name or key')
    .option('--json', 'print the members as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const client = await Context.of(cmd).daemon()
      const result = await client.json<{ name: string; members: MemberSummary[] }>('GET', '/api/members', { query: { doc: name } })
      if (opts.json) return printJson(result)
      await lines(
        ...table(
          ['NAME', 'COLOR', 'ROLE', 'KEY', 'ONLINE'],
          result.members.map((m) => [
            (m.name || '(no name)') + (m.you ? ' (you)' : ''),
            m.color || '-',
            m.role,
            shortKey(m.key),
            m.online === null ? '-' : m.online ? 'yes' : 'no'
          ])
        )
      )
    })
}
