/**
 * `enmesh validate`, `enmesh diff` and `enmesh apply`: a mesh.yaml checked
 * offline with the control plane's own parser, compared with the config the
 * control plane serves, and pushed to it (PUT /api/v1/config).
 */
import { parseMeshYaml, readMeshFile } from '../config/load.ts';
import { isEnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import { AdminCallError } from './admin-client.ts';
import { UsageError, operatorCommand } from './command-kit.ts';
import type { Invocation } from './command-kit.ts';
import { Progress, colourDiff, json } from './output.ts';

interface ConfigView {
  readonly version: string;
  readonly source: string;
  readonly location: string;
  readonly text: string;
}

/** The file named by `-f` or the one positional argument. */
function fileOf(inv: Invocation, command: string): string {
  const flag = inv.str('file');
  const files = flag === undefined ? inv.positionals : [flag, ...inv.positionals];
  if (files.length !== 1) throw new UsageError(files.length === 0 ? `name the mesh.yaml to ${command}: enmesh ${command} -f mesh.yaml` : `expected one file, got ${files.join(' ')}`);
  return files[0]!;
}

/** Reads and checks the file as the control plane would; a bad file is reported with line, column and key path. */
async function readValid(file: string): Promise<{ text: string; model: MeshModel }> {
  const text = await readMeshFile(file);
  return { text, model: parseMeshYaml(text, file) };
}

export const validateCommand = operatorCommand({
  name: 'validate',
  summary: 'check a mesh.yaml offline (line, column and key path of every problem)',
  offline: true,
  help: `Usage: enmesh validate <mesh.yaml> [-o json]

Checks a mesh.yaml with the same parser and rules as the control plane, without
contacting it. Every problem is listed with file:line:column and its key path.

Options:
  -f, --file <mesh.yaml>   the file (or give it as the argument)
  -o, --output <format>    table (default) or json
  -h, --help               show this help

Exit codes: 0 valid, 1 invalid or unreadable, 2 usage error.
`,
  options: { file: { type: 'string', short: 'f' } },
  async run(inv) {
    const file = fileOf(inv, 'validate');
    try {
      const { model } = await readValid(file);
      const services = [...model.services.keys()];
      if (inv.json) inv.io.stdout(json({ valid: true, file, version: model.version, services }));
      else inv.io.stdout(`${inv.style.green('valid')}: ${file}: ${services.length} service${services.length === 1 ? '' : 's'} (${services.join(', ')}), model version ${model.version}\n`);
      return 0;
    } catch (err) {
      if (!isEnmeshError(err) || !inv.json) throw err;
      inv.io.stdout(json({ valid: false, file, error: err.message, issues: err.issues ?? [] }));
      return 1;
    }
  },
});

interface DryRun {
  readonly valid: boolean;
  readonly diff: string;
}

/** Whether a unified diff holds any change. */
const changes = (diff: string): boolean => diff.split('\n').some((l) => /^[+-](?![+-]{2})/.test(l));

async function dryRun(inv: Invocation, file: string): Promise<{ current: ConfigView; text: string; diff: string }> {
  const { text } = await readValid(file);
  const client = inv.client();
  const current = await client.get<ConfigView>('/api/v1/config');
  const result = await client.call<DryRun>('PUT', '/api/v1/config', { text, dryRun: true, expectedVersion: current.version });
  return { current, text, diff: result.diff ?? '' };
}

/**
 * The control plane computes the diff as a dry run of `apply`, which takes the
 * admin token like `apply` itself (as `kubectl diff` needs apply's permission):
 * without one the server's answer speaks of a change, so say what `diff` needs.
 */
function diffNeedsToken(err: unknown): unknown {
  if (!(err instanceof AdminCallError) || err.status !== 401 || err.message.startsWith('wrong admin token')) return err;
  return new AdminCallError(
    1,
    'no admin token: the control plane computes the diff as a dry run of apply (nothing is changed), which needs the admin token as apply does. Give it with --token <token> or ENMESH_ADMIN_TOKEN (the control plane logs it at start, or writes it to --admin-token-file).',
    401,
  );
}

export const diffCommand = operatorCommand({
  name: 'diff',
  summary: 'show what applying a mesh.yaml would change',
  help: `Usage: enmesh diff -f <mesh.yaml> [options]

Validates the file (offline, then on the control plane) and prints the
difference between the config in force and the file as a unified diff.
Nothing is changed. The control plane's check is a dry run of apply, so
diff needs the admin token (--token or ENMESH_ADMIN_TOKEN) as apply does.

Options:
  -f, --file <mesh.yaml>   the file (or give it as the argument)
`,
  options: { file: { type: 'string', short: 'f' } },
  async run(inv) {
    const file = fileOf(inv, 'diff');
    const { current, diff } = await dryRun(inv, file).catch((err: unknown) => {
      throw diffNeedsToken(err);
    });
    const changed = changes(diff);
    if (inv.json) inv.io.stdout(json({ changed, version: current.version, diff }));
    else if (!changed) inv.io.stdout(`no changes: ${file} matches the config in force (version ${current.version})\n`);
    else inv.io.stdout(colourDiff(diff, inv.style));
    return 0;
  },
});

export const applyCommand = operatorCommand({
  name: 'apply',
  summary: 'validate a mesh.yaml, show the diff and push it to the control plane',
  help: `Usage: enmesh apply -f <mesh.yaml> [options]

Validates the file (offline, then on the control plane), prints the diff
against the config in force and applies it. Returns once the new model is
published to the mesh. If someone changed the config between the diff and
the apply, nothing is applied: run it again to see the new diff.

Options:
  -f, --file <mesh.yaml>   the file (or give it as the argument)
`,
  options: { file: { type: 'string', short: 'f' } },
  async run(inv) {
    const file = fileOf(inv, 'apply');
    const { current, text, diff } = await dryRun(inv, file);
    if (!changes(diff)) {
      if (inv.json) inv.io.stdout(json({ changed: false, version: current.version, diff }));
      else inv.io.stdout(`no changes: ${file} matches the config in force (version ${current.version})\n`);
      return 0;
    }
    if (!inv.json) inv.io.stdout(colourDiff(diff, inv.style));
    const progress = new Progress(inv.io);
    if (!inv.json) progress.update(`applying ${file} to ${inv.client().server} ...`);
    let applied: { version: string; diff: string };
    try {
      applied = await inv.client().call<{ version: string; diff: string }>('PUT', '/api/v1/config', { text, expectedVersion: current.version });
    } catch (err) {
      progress.done();
      if (err instanceof AdminCallError && err.status === 409) {
        throw new AdminCallError(1, `${err.message}; the config changed since the diff was taken: nothing applied, run \`enmesh apply\` again to see the new diff`, 409);
      }
      throw err;
    }
    progress.done();
    if (inv.json) inv.io.stdout(json({ changed: true, version: applied.version, diff: applied.diff ?? diff }));
    else inv.io.stdout(`${inv.style.green('applied')}: ${file}, model version ${applied.version}\n`);
    return 0;
  },
});
