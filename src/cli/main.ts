/**
 * @module cli/main
 * The `breakwater` command. `serve` runs the platform; the az-shaped commands (`login`,
 * `account`, `configure`, `acr`, `role`, `identity`, `network`) talk to a running one (commands/);
 * `keys rotate` works on a server's data directory.
 */
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/config.js';
import { startBreakwater } from '../server/server.js';
import { registerAccountCommands } from './commands/account.js';
import { registerAcrCommands } from './commands/acr.js';
import { registerAcrImportCommands } from './commands/acr-import.js';
import { registerAcrRepositoryCommands } from './commands/acr-repository.js';
import { registerAcrTaskCommands } from './commands/acr-task.js';
import { registerAcrTokenCommands } from './commands/acr-token.js';
import { registerCloudCommands } from './commands/cloud.js';
import { registerContainerCommands } from './commands/container.js';
import { registerMlCommands } from './commands/ml.js';
import { registerIdentityCommands } from './commands/identity.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerRoleCommands } from './commands/role.js';
import { registerScannerCommands } from './commands/scanner.js';

const program = new Command();

interface ServeOptions {
  data?: string;
  listen?: string;
  managementListen?: string;
  dataTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  trustedProxies?: string;
  serviceSourceAddress?: string;
  config?: string;
  logLevel?: string;
  metadataUrl?: string;
  storage?: string;
}

program
  .name('breakwater')
  .description('Self-hosted, ACR-compatible container registry with network-restricted access')
  .showHelpAfterError();

program
  .command('serve')
  .description('start the registry platform on this machine')
  .addOption(new Option('--data <dir>', 'data directory (env BREAKWATER_DATA)'))
  .addOption(
    new Option('--listen <host:port>', 'public data endpoint address (env BREAKWATER_LISTEN)'),
  )
  .addOption(
    new Option(
      '--management-listen <host:port>',
      'management listener (ARM API, identity service), HTTPS (env BREAKWATER_MANAGEMENT_LISTEN)',
    ),
  )
  .addOption(
    new Option('--data-tls', 'serve the data endpoint over TLS too (env BREAKWATER_DATA_TLS)'),
  )
  .addOption(
    new Option('--tls-cert <file>', 'PEM certificate for the listeners (env BREAKWATER_TLS_CERT)'),
  )
  .addOption(
    new Option('--tls-key <file>', 'PEM private key for the listeners (env BREAKWATER_TLS_KEY)'),
  )
  .addOption(
    new Option(
      '--trusted-proxies <cidrs>',
      'comma-separated peers whose X-Forwarded-For is believed (env BREAKWATER_TRUSTED_PROXIES)',
    ),
  )
  .addOption(
    new Option(
      '--metadata-url <url>',
      'shared PostgreSQL metadata, postgres://user:pass@host/db; default the SQLite file under --data (env BREAKWATER_METADATA_URL)',
    ),
  )
  .addOption(
    new Option(
      '--storage <url>',
      'shared blob storage, azure://<container> (connection string in env BREAKWATER_STORAGE_CONNECTION_STRING) or s3://<bucket> (AWS credentials from the usual AWS_* environment); default files under --data (env BREAKWATER_STORAGE)',
    ),
  )
  .addOption(
    new Option(
      '--service-source-address <address>',
      "source address of the platform's own services (env BREAKWATER_SERVICE_SOURCE_ADDRESS)",
    ),
  )
  .addOption(new Option('--config <file>', 'JSON config file (env BREAKWATER_CONFIG)'))
  .addOption(
    new Option('--log-level <level>', 'log level (env BREAKWATER_LOG_LEVEL)').choices([
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ]),
  )
  .action(async (options: ServeOptions) => {
    const config = loadConfig({
      flags: {
        data: options.data,
        listen: options.listen,
        managementListen: options.managementListen,
        dataTls: options.dataTls ? 'true' : undefined,
        tlsCert: options.tlsCert,
        tlsKey: options.tlsKey,
        trustedProxies: options.trustedProxies,
        serviceSourceAddress: options.serviceSourceAddress,
        config: options.config,
        logLevel: options.logLevel,
        metadataUrl: options.metadataUrl,
        storage: options.storage,
      },
    });
    const running = await startBreakwater(config);
    const logger = running.platform.logger;
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      running.close().then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

registerAccountCommands(program);
registerAcrCommands(program);
const acrCommand = program.commands.find((c) => c.name() === 'acr')!;
registerAcrRepositoryCommands(acrCommand);
registerAcrTokenCommands(acrCommand);
registerAcrImportCommands(acrCommand);
registerAcrTaskCommands(acrCommand);
registerRoleCommands(program);
registerIdentityCommands(program);
registerNetworkCommands(program);
registerCloudCommands(program);
registerKeyCommands(program);
registerScannerCommands(program);
registerContainerCommands(program);
registerMlCommands(program);
for (const command of program.commands) {
  if (command.name() === 'serve') continue;
  // az prints usage errors as one `ERROR:` line; commander's `error: ...` is rewritten to match.
  const oneLine = (c: Command) => {
    c.showHelpAfterError(false).configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, 'ERROR: ')),
    });
    c.commands.forEach(oneLine);
  };
  oneLine(command);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`ERROR: ${error.message}\n`);
  } else {
    process.stderr.write(`ERROR: ${(error as Error)?.message ?? String(error)}\n`);
  }
  process.exit(1);
});
