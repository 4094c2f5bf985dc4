/**
 * @module cli/commands/scanner
 * The vulnerability scanner from the command line:
 *
 * - `acr scan run|show|list`: run a scan now, show an image's latest result, list a
 *   registry's results, through the management API (`.../registries/{r}/scan`,
 *   `.../scanResults`), az-shaped (`-o table|json|tsv`, `--query`).
 * - `scanner db import PATH`: replace the scanner's vulnerability database with the OSV
 *   records in a folder, `.zip` or `.tar.gz`, written straight into the data directory's
 *   metadata store (an operator's command, like `serve`; no network). A running server notices
 *   the new database version and re-scans what it scanned before.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { openSqliteStores } from '../../metadata/index.js';
import { OsvFormatError, VulnerabilityDatabase } from '../../services/scanner/index.js';
import type { ScanResult } from '../../services/scanner/index.js';
import { CliError } from '../errors.js';
import { REGISTRY_API_VERSION } from '../management-client.js';
import { print, type GlobalOptions } from '../output.js';
import { registryId, registryName, session, withGlobals } from './common.js';

interface ScanOptions extends GlobalOptions {
  name?: string;
  resourceGroup?: string;
  image?: string;
  repository?: string;
}

function registryOptions(command: Command): Command {
  return command
    .option('-n, --name <name>', "the registry's name (default: configure --defaults acr=)")
    .option('-g, --resource-group <group>', 'resource group (found automatically if omitted)');
}

/** `repo:tag` or `repo@sha256:...` -> repository and reference. */
function parseImage(image: string | undefined): { repository: string; reference: string } {
  if (!image) throw new CliError('the following arguments are required: --image/-t');
  const at = image.indexOf('@');
  if (at > 0) return { repository: image.slice(0, at), reference: image.slice(at + 1) };
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/')
    ? { repository: image.slice(0, colon), reference: image.slice(colon + 1) }
    : { repository: image, reference: 'latest' };
}

/** `-o table`: one row per finding (show/run) or per scanned image (list). */
function findingsTable(result: unknown): Record<string, unknown>[] {
  const scan = result as ScanResult;
  if (scan.status !== 'Succeeded' || scan.findings.length === 0) return [statusRow(scan)];
  return scan.findings.map((f) => ({
    SEVERITY: f.severity,
    ID: f.id,
    CVE: f.aliases.find((a) => a.startsWith('CVE-')) ?? '',
    PACKAGE: f.package.name,
    INSTALLED: f.package.installedVersion,
    FIXED: f.package.fixedVersion ?? '',
  }));
}

function statusRow(scan: ScanResult): Record<string, unknown> {
  const s = scan.summary;
  return {
    REPOSITORY: scan.repository,
    DIGEST: scan.digest,
    STATUS: scan.status,
    CRITICAL: s.Critical,
    HIGH: s.High,
    MEDIUM: s.Medium,
    LOW: s.Low,
    'SCANNED AT': scan.scannedAt,
    REASON: scan.reason ?? '',
  };
}

function listTable(result: unknown): Record<string, unknown>[] {
  return (result as ScanResult[]).map(statusRow);
}

export function registerScannerCommands(program: Command): void {
  const acr = program.commands.find((c) => c.name() === 'acr')!;
  const scan = acr.command('scan').description('vulnerability scans of the images in a registry');

  withGlobals(
    registryOptions(
      scan
        .command('run')
        .description('scan an image now and show the result')
        .option('-t, --image <image>', 'the image, as repository:tag or repository@digest'),
    ),
  ).action(async (options: ScanOptions) => {
    const s = session();
    const id = await registryId(s, registryName(options.name), options.resourceGroup);
    const result = await s.client.arm<ScanResult>(
      'POST',
      `${id}/scan`,
      REGISTRY_API_VERSION,
      parseImage(options.image),
    );
    print(result, options, findingsTable);
    if (result.status === 'Failed') throw new CliError(result.reason ?? 'the scan failed');
  });

  withGlobals(
    registryOptions(
      scan
        .command('show')
        .description("show an image's latest scan result")
        .option('-t, --image <image>', 'the image, as repository:tag or repository@digest'),
    ),
  ).action(async (options: ScanOptions) => {
    const s = session();
    const id = await registryId(s, registryName(options.name), options.resourceGroup);
    const { repository, reference } = parseImage(options.image);
    const found = await s.client.arm<{ value: ScanResult[] }>(
      'GET',
      `${id}/scanResults?repository=${encodeURIComponent(repository)}&reference=${encodeURIComponent(reference)}`,
      REGISTRY_API_VERSION,
    );
    const result = found.value[0];
    if (!result) throw new CliError(`No scan result for '${repository}:${reference}' yet.`);
    print(result, options, findingsTable);
  });

  withGlobals(
    registryOptions(
      scan
        .command('list')
        .description("list a registry's scan results (latest per image digest)")
        .option('--repository <repository>', 'only this repository'),
    ),
  ).action(async (options: ScanOptions) => {
    const s = session();
    const id = await registryId(s, registryName(options.name), options.resourceGroup);
    const query = options.repository ? `?repository=${encodeURIComponent(options.repository)}` : '';
    const list = await s.client.arm<{ value: ScanResult[] }>(
      'GET',
      `${id}/scanResults${query}`,
      REGISTRY_API_VERSION,
    );
    print(list.value, options, listTable);
  });

  const scanner = program.command('scanner').description("the vulnerability scanner's database");
  const db = scanner.command('db').description('the OSV vulnerability database');
  withGlobals(
    db
      .command('import')
      .description(
        'replace the vulnerability database with the OSV records in a folder, .zip or .tar.gz',
      )
      .argument('<path>', 'folder, .zip or .tar.gz of OSV JSON records')
      .addOption(new Option('--data <dir>', 'data directory (env BREAKWATER_DATA)')),
  ).action(async (path: string, options: GlobalOptions & { data?: string }) => {
    const config = loadConfig({ flags: { data: options.data } });
    const stores = await openSqliteStores(join(config.data, 'metadata.db'));
    try {
      const outcome = await new VulnerabilityDatabase(stores.scanner).importFrom(path);
      print({ ...outcome.database, changed: outcome.changed }, options);
    } catch (error) {
      if (error instanceof OsvFormatError) throw new CliError(error.message);
      throw error;
    } finally {
      await stores.metadata.close();
    }
  });
}
