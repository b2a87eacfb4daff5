/** `enmesh rollback <version>`: put an earlier published config back in force (POST /api/v1/rollback). */
import { UsageError, operatorCommand } from './command-kit.ts';
import { Progress, colourDiff, json, table } from './output.ts';

interface HistoryView {
  readonly current: string;
  readonly versions: readonly { version: string; at: string; actor: string; source: string; summary: string }[];
}

export const rollbackCommand = operatorCommand({
  name: 'rollback',
  summary: 'put an earlier config version back in force (--list: the versions)',
  help: `Usage: enmesh rollback <version> [options]
       enmesh rollback --list [options]

Applies the config text of an earlier published model version (validated,
versioned and audited like any change) and prints the diff. Returns once the
new model is published.

Options:
      --list               the versions that can be rolled back to, newest first
`,
  options: { list: { type: 'boolean' } },
  async run(inv) {
    const client = inv.client();
    if (inv.flag('list')) {
      if (inv.positionals.length > 0) throw new UsageError('--list takes no version');
      const history = await client.get<HistoryView>('/api/v1/history');
      if (inv.json) inv.io.stdout(json(history));
      else {
        inv.io.stdout(
          table(
            ['version', 'at', 'actor', 'source', 'summary'],
            history.versions.map((v) => [v.version === history.current ? `${v.version} *` : v.version, v.at, v.actor, v.source, v.summary]),
            inv.style,
          ),
        );
      }
      return 0;
    }
    const [version, ...extra] = inv.positionals;
    if (version === undefined) throw new UsageError('name the version to roll back to (see them with `enmesh rollback --list`)');
    if (extra.length > 0) throw new UsageError(`expected one version, got ${inv.positionals.join(' ')}`);
    const progress = new Progress(inv.io);
    if (!inv.json) progress.update(`rolling back to ${version} ...`);
    let result: { version: string; diff: string };
    try {
      result = await client.call<{ version: string; diff: string }>('POST', '/api/v1/rollback', { version });
    } finally {
      progress.done();
    }
    if (inv.json) {
      inv.io.stdout(json(result));
      return 0;
    }
    if (result.diff !== undefined && result.diff !== '') inv.io.stdout(colourDiff(result.diff, inv.style));
    inv.io.stdout(`${inv.style.green('rolled back')} to the config of ${version}: model version ${result.version}\n`);
    return 0;
  },
});
