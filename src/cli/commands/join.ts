import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkNewName } from '../input.js'
import { lines, printJson } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import { notAvailable, pairingAvailable } from '../pairing.js'

export function register(program: Command): void {
  program
    .command('join')
    .description('join a document with an invite code, then add it to the library')
    .argument('<code>', 'the invite code')
    .argument('[name]', 'local name for the document (default: its title or a name derived from the code)')
    .option('--json', 'print the result as JSON')
    .action(async (code: string, name: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      if (code.trim() === '') throw new SwarmpadError('INVALID_INVITE', 'invalid invite: the code is empty')
      if (name !== undefined) checkNewName(name)
      if (!(await pairingAvailable())) throw notAvailable('swarmpad join')
      const client = await Context.of(cmd).daemon()
      const result = await client.json<{ name: string; key: string }>('POST', '/api/join', { json: { code, name } })
      if (opts.json) return printJson(result)
      await lines(`joined ${result.name}`, `key: ${result.key}`)
    })
}
