/**
 * @module services/tasks/image-builder
 * Builds an OCI image from a Dockerfile without a daemon: each stage's base image is pulled
 * through the registry client (verified, unpacked with the runtime), metadata instructions edit
 * the image config, and instructions that change files (RUN in a bubblewrap sandbox, COPY, ADD,
 * WORKDIR) are captured as new layers by diffing the root filesystem. The result (config with
 * history, layers) is pushed by `pushImage` to every target. Multi-stage builds (`FROM ... AS`,
 * `COPY --from=`) and `--target` are supported.
 */
import { createHash } from 'node:crypto';
import {
  chmod,
  chown,
  copyFile,
  cp,
  lchown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { isObject } from '../../core/json.js';
import type { Descriptor } from '../../core/manifest.js';
import { MediaType } from '../../core/media-types.js';
import {
  adoptNewPaths,
  applyLayer,
  resolveInRoot,
  resolveUser,
  runInSandbox,
  snapshot,
  writeLayer,
  type Snapshot,
} from '../../runtime/index.js';
import { formatImageName, parseImageName, type ImageName } from '../image-name.js';
import { unpackImage } from '../image-pull.js';
import type { RegistryClient } from '../registry-client.js';
import {
  DockerfileError,
  parseDockerfile,
  parseKeyValues,
  splitWords,
  substitute,
  unquote,
  type Instruction,
} from './dockerfile.js';

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Reaches registries with the run's credentials (logging in on first use). */
export interface RegistryAccess {
  client(loginServer: string): Promise<RegistryClient>;
}

export interface BuildOptions {
  contextDir: string;
  /** The Dockerfile's path relative to the context. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** Build up to this stage (`--target`). */
  target?: string;
  /** Scratch space for root filesystems and layers; removed by the caller. */
  workDir: string;
  registries: RegistryAccess;
  log: (text: string) => void;
  signal?: AbortSignal;
  /** Time limit for one RUN step. */
  stepTimeoutMs: number;
}

/** A layer of a built image and how to read its bytes (a local file or the base registry). */
export interface ImageLayer {
  descriptor: Descriptor;
  diffId: string;
  open: () => Promise<Readable>;
}

export interface BuiltImage {
  config: ImageConfig;
  layers: ImageLayer[];
  /** The final stage's root filesystem (a later `cmd` step can run it). */
  root: string;
}

interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config: RunConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

interface RunConfig {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  OnBuild?: string[];
  Shell?: string[];
  [key: string]: unknown;
}

export class BuildError extends Error {
  override name = 'BuildError';
}

interface Stage {
  name?: string;
  root: string;
  config: ImageConfig;
  layers: ImageLayer[];
  /** ARGs declared in this stage, with their values. */
  args: Record<string, string>;
  state?: Snapshot;
}

function emptyConfig(): ImageConfig {
  return {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: [DEFAULT_PATH] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** Environment as a map (later entries win), and back. */
function envMap(env: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const pair of env ?? []) {
    const equals = pair.indexOf('=');
    if (equals > 0) map.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
  return map;
}

export async function buildImage(options: BuildOptions): Promise<BuiltImage> {
  const source = await readFile(
    join(options.contextDir, safeRelative(options.dockerfile)),
    'utf8',
  ).catch(() => {
    throw new BuildError(
      `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${options.dockerfile}: no such file or directory`,
    );
  });
  let instructions: Instruction[];
  try {
    instructions = parseDockerfile(source);
  } catch (error) {
    throw new BuildError(`failed to parse Dockerfile: ${(error as Error).message}`);
  }
  // Only the stages the target needs would be built by BuildKit; building all is simpler and
  // gives the same image, so stop at the target stage.
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let current: Stage | undefined;
  let layerCount = 0;
  const total = instructions.length;
  for (const [index, instruction] of instructions.entries()) {
    if (options.signal?.aborted) throw new BuildError('the run was canceled');
    options.log(`Step ${index + 1}/${total} : ${instruction.keyword} ${describe(instruction)}\n`);
    if (instruction.keyword === 'FROM') {
      if (current && options.target && current.name === options.target) break;
      current = await startStage(instruction, stages, globalArgs, options);
      stages.push(current);
      continue;
    }
    if (!current) {
      if (instruction.keyword !== 'ARG') throw new BuildError(`line ${instruction.line}: no FROM`);
      for (const [name, value] of parseKeyValues(instruction.text, false)) {
        globalArgs[name] = options.buildArgs[name] ?? value;
      }
      continue;
    }
    layerCount += (await runInstruction(
      current,
      instruction,
      stages,
      globalArgs,
      options,
      layerCount,
    ))
      ? 1
      : 0;
  }
  if (!current) throw new BuildError('the Dockerfile has no FROM instruction');
  if (options.target && !stages.some((stage) => stage.name === options.target)) {
    throw new BuildError(`target stage ${options.target} could not be found`);
  }
  const final = options.target ? stages.find((stage) => stage.name === options.target)! : current;
  final.config.created = new Date().toISOString();
  return { config: final.config, layers: final.layers, root: final.root };
}

function describe(instruction: Instruction): string {
  const flags = Object.entries(instruction.flags)
    .map(([name, value]) => `--${name}=${value} `)
    .join('');
  return `${flags}${instruction.text}`;
}

/** A relative path that stays inside its base (`..` climbing out is refused). */
function safeRelative(path: string): string {
  const normalized = posix.normalize(`/${path}`).slice(1);
  if (normalized.startsWith('..')) throw new BuildError(`'${path}' is outside the build context`);
  return normalized;
}

async function startStage(
  instruction: Instruction,
  stages: Stage[],
  globalArgs: Record<string, string>,
  options: BuildOptions,
): Promise<Stage> {
  const words = splitWords(substitute(instruction.text, globalArgs)).map(unquote);
  const base = words[0];
  const name = words[1]?.toLowerCase() === 'as' ? words[2]?.toLowerCase() : undefined;
  if (!base) throw new BuildError(`line ${instruction.line}: FROM requires an image`);
  const root = await mkdtemp(join(options.workDir, 'stage-'));
  const stage: Stage = {
    root,
    config: emptyConfig(),
    layers: [],
    args: {},
    ...(name ? { name } : {}),
  };
  const earlier = stages.find((s) => s.name === base.toLowerCase());
  if (earlier) {
    await cp(earlier.root, root, {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
    });
    stage.config = structuredClone(earlier.config);
    stage.layers = [...earlier.layers];
    return stage;
  }
  if (base === 'scratch') return stage;
  let image: ImageName;
  try {
    image = parseImageName(base);
  } catch (error) {
    throw new BuildError(`line ${instruction.line}: ${(error as Error).message}`);
  }
  const client = await options.registries.client(image.registry);
  const resolved = await client.resolveImage(image.repository, image.reference);
  options.log(` ---> ${formatImageName(image)} resolved to ${resolved.manifest.digest}\n`);
  await unpackImage({ image: base, client, repository: image.repository, resolved }, root);
  const config = resolved.config as Partial<ImageConfig>;
  const diffIds =
    isObject(config.rootfs) && Array.isArray(config.rootfs.diff_ids) ? config.rootfs.diff_ids : [];
  stage.config = {
    ...emptyConfig(),
    ...config,
    architecture: 'amd64',
    os: 'linux',
    config: { ...(isObject(config.config) ? (config.config as RunConfig) : {}) },
    rootfs: { type: 'layers', diff_ids: [...(diffIds as string[])] },
    history: Array.isArray(config.history) ? [...config.history] : [],
  };
  if (!stage.config.config.Env?.some((pair) => pair.startsWith('PATH='))) {
    stage.config.config.Env = [DEFAULT_PATH, ...(stage.config.config.Env ?? [])];
  }
  stage.layers = resolved.layers.map((layer, index) => ({
    descriptor: {
      // Same bytes under the OCI name: the built manifest is an OCI manifest.
      mediaType: layer.mediaType === DOCKER_LAYER_GZIP ? OCI_LAYER_GZIP : layer.mediaType,
      digest: layer.digest,
      size: layer.size,
    },
    diffId: (diffIds as string[])[index] ?? '',
    open: () => client.openBlob(image.repository, layer.digest),
  }));
  // ONBUILD triggers of the base run first in Docker; they are rare and not supported here.
  if (stage.config.config.OnBuild?.length) {
    options.log(' ---> note: ONBUILD triggers of the base image are not run\n');
  }
  return stage;
}

/** Applies one instruction to a stage; true when it added a layer. */
async function runInstruction(
  stage: Stage,
  instruction: Instruction,
  stages: Stage[],
  globalArgs: Record<string, string>,
  options: BuildOptions,
  layerIndex: number,
): Promise<boolean> {
  const config = stage.config.config;
  const env = envMap(config.Env);
  // Variables for substitution: ARGs of this stage, then ENV (ENV wins, as in Docker).
  const variables = { ...stage.args, ...Object.fromEntries(env) };
  const text = substitute(instruction.text, variables);
  const createdBy = `${instruction.keyword} ${describe(instruction)}`;
  const metadataOnly = () => {
    stage.config.history.push({
      created: new Date().toISOString(),
      created_by: createdBy,
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    });
    return false;
  };
  switch (instruction.keyword) {
    case 'ARG': {
      for (const [name, value] of parseKeyValues(instruction.text, false)) {
        stage.args[name] =
          options.buildArgs[name] ?? globalArgs[name] ?? substitute(value, variables);
      }
      return metadataOnly();
    }
    case 'ENV': {
      for (const [name, value] of parseKeyValues(instruction.text, true)) {
        env.set(name, substitute(value, { ...stage.args, ...Object.fromEntries(env) }));
      }
      config.Env = [...env].map(([name, value]) => `${name}=${value}`);
      return metadataOnly();
    }
    case 'LABEL': {
      config.Labels = { ...(config.Labels ?? {}) };
      for (const [name, value] of parseKeyValues(text, false)) config.Labels[name] = value;
      return metadataOnly();
    }
    case 'MAINTAINER':
      stage.config.author = text;
      return metadataOnly();
    case 'EXPOSE': {
      config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
      for (const port of splitWords(text).map(unquote)) {
        config.ExposedPorts[port.includes('/') ? port : `${port}/tcp`] = {};
      }
      return metadataOnly();
    }
    case 'USER':
      config.User = text.trim();
      return metadataOnly();
    case 'ENTRYPOINT':
      config.Entrypoint = commandOf(instruction, text, config);
      // Docker: setting ENTRYPOINT drops a CMD inherited from the base image.
      if (!stage.config.history.some((h) => String(h.created_by ?? '').startsWith('CMD')))
        config.Cmd = null;
      return metadataOnly();
    case 'CMD':
      config.Cmd = commandOf(instruction, text, config);
      return metadataOnly();
    case 'STOPSIGNAL':
      config.StopSignal = text.trim();
      return metadataOnly();
    case 'VOLUME': {
      config.Volumes = { ...(config.Volumes ?? {}) };
      for (const volume of instruction.json ?? splitWords(text).map(unquote))
        config.Volumes[volume] = {};
      return metadataOnly();
    }
    case 'SHELL':
      if (!instruction.json)
        throw new BuildError(
          `line ${instruction.line}: SHELL requires the arguments to be in JSON form`,
        );
      config.Shell = instruction.json;
      return metadataOnly();
    case 'ONBUILD':
      config.OnBuild = [...(config.OnBuild ?? []), instruction.text];
      return metadataOnly();
    case 'HEALTHCHECK':
      return metadataOnly();
    case 'WORKDIR': {
      const directory = posix.resolve(config.WorkingDir || '/', text.trim());
      config.WorkingDir = directory;
      return fileStep(stage, createdBy, options, layerIndex, async () => {
        await mkdir(await resolveInRoot(stage.root, directory), { recursive: true });
      });
    }
    case 'COPY':
    case 'ADD':
      return fileStep(stage, createdBy, options, layerIndex, () =>
        copyInto(stage, instruction, text, stages, options),
      );
    case 'RUN':
      return fileStep(stage, createdBy, options, layerIndex, () =>
        runStep(stage, instruction, text, options),
      );
    default:
      throw new BuildError(`line ${instruction.line}: ${instruction.keyword} is not supported`);
  }
}

/** Exec form as given; shell form wrapped in the stage's shell (`/bin/sh -c`). */
function commandOf(instruction: Instruction, text: string, config: RunConfig): string[] {
  return instruction.json ?? [...(config.Shell ?? ['/bin/sh', '-c']), text];
}

/** Runs a filesystem-changing step and records its changes as a layer (none if unchanged). */
async function fileStep(
  stage: Stage,
  createdBy: string,
  options: BuildOptions,
  layerIndex: number,
  change: () => Promise<void>,
): Promise<boolean> {
  const before = stage.state ?? (await snapshot(stage.root));
  await change();
  const user = stage.config.config.User;
  if (user && createdBy.startsWith('RUN')) {
    const { uid, gid } = await resolveUser(stage.root, user);
    if (uid !== 0) await adoptNewPaths(stage.root, before, await snapshot(stage.root), uid, gid);
  }
  const file = join(options.workDir, `layer-${layerIndex}-${Date.now()}.tar.gz`);
  const layer = await writeLayer(stage.root, before, file);
  stage.state = layer.after;
  const created = new Date().toISOString();
  if (layer.empty) {
    stage.config.history.push({
      created,
      created_by: createdBy,
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    });
    await rm(file, { force: true });
    return false;
  }
  stage.config.history.push({ created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' });
  stage.config.rootfs.diff_ids.push(layer.diffId);
  stage.layers.push({
    descriptor: { mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.size },
    diffId: layer.diffId,
    open: async () => createReadStream(file),
  });
  options.log(` ---> layer ${layer.digest.slice(7, 19)} (${layer.size} bytes)\n`);
  return true;
}

async function runStep(
  stage: Stage,
  instruction: Instruction,
  text: string,
  options: BuildOptions,
): Promise<void> {
  const config = stage.config.config;
  const argv = instruction.json ?? [...(config.Shell ?? ['/bin/sh', '-c']), text];
  // Build args are visible to RUN as environment variables, under ENV.
  const env = new Map([...Object.entries(stage.args), ...envMap(config.Env)]);
  const result = await runInSandbox({
    root: stage.root,
    argv,
    env: [...env].map(([name, value]) => `${name}=${value}`),
    ...(config.WorkingDir ? { workingDir: config.WorkingDir } : {}),
    ...(config.User ? { user: config.User } : {}),
    timeoutMs: options.stepTimeoutMs,
    onOutput: (chunk) => options.log(chunk.toString('utf8')),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (result.cancelled) throw new BuildError('the run was canceled');
  if (result.timedOut) throw new BuildError(`The command '${argv.join(' ')}' timed out`);
  if (result.exitCode !== 0) {
    throw new BuildError(
      `The command '${argv.join(' ')}' returned a non-zero code: ${result.exitCode}`,
    );
  }
}

/** COPY/ADD: sources from the context (or `--from` a stage), into the stage's root. */
async function copyInto(
  stage: Stage,
  instruction: Instruction,
  text: string,
  stages: Stage[],
  options: BuildOptions,
): Promise<void> {
  const words = instruction.json ?? splitWords(text).map(unquote);
  if (words.length < 2)
    throw new BuildError(
      `line ${instruction.line}: ${instruction.keyword} requires at least two arguments`,
    );
  const destination = words.at(-1)!;
  const sources = words.slice(0, -1);
  const from = instruction.flags.from?.toLowerCase();
  let sourceRoot = options.contextDir;
  if (from) {
    const fromStage = stages.find((s) => s.name === from) ?? stages[Number(from)];
    if (!fromStage || fromStage === stage)
      throw new BuildError(`line ${instruction.line}: stage '${from}' not found`);
    sourceRoot = fromStage.root;
  }
  const owner = instruction.flags.chown
    ? await resolveUser(stage.root, instruction.flags.chown)
    : { uid: 0, gid: 0 };
  const workingDir = stage.config.config.WorkingDir || '/';
  const destinationPath = posix.resolve(workingDir, destination);
  const matched: string[] = [];
  for (const pattern of sources) {
    if (/^https?:\/\//.test(pattern))
      throw new BuildError(
        `line ${instruction.line}: ${instruction.keyword} from a URL needs network access, which build steps do not have`,
      );
    const found = await expandSource(sourceRoot, pattern, from !== undefined);
    if (found.length === 0)
      throw new BuildError(`failed to compute cache key: "/${safeRelative(pattern)}": not found`);
    matched.push(...found);
  }
  const intoDirectory = destination.endsWith('/') || matched.length > 1;
  for (const relative of matched) {
    const sourcePath = from
      ? await resolveInRoot(sourceRoot, relative)
      : join(sourceRoot, relative);
    const stat = await lstat(sourcePath);
    if (instruction.keyword === 'ADD' && stat.isFile() && /\.(tar|tar\.gz|tgz)$/.test(relative)) {
      const target = await resolveInRoot(stage.root, destinationPath);
      await mkdir(target, { recursive: true });
      await applyLayer(target, createReadStream(sourcePath));
      continue;
    }
    const targetPath = stat.isDirectory()
      ? destinationPath
      : intoDirectory
        ? posix.join(destinationPath, posix.basename(relative))
        : destinationPath;
    await copyTree(sourcePath, stage.root, targetPath, owner);
  }
}

/** Matches a COPY source (with `*` and `?` in its last component) against the source root. */
async function expandSource(root: string, pattern: string, scoped: boolean): Promise<string[]> {
  const relative = safeRelative(pattern);
  const directory = posix.dirname(relative);
  const last = posix.basename(relative);
  if (relative === '' || !/[*?[]/.test(last)) {
    const path = scoped ? await resolveInRoot(root, relative) : join(root, relative);
    return (await lstat(path).catch(() => undefined)) ? [relative] : [];
  }
  const expression = new RegExp(
    `^${last
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  const base = scoped ? await resolveInRoot(root, directory) : join(root, directory);
  const names = await readdir(base).catch(() => [] as string[]);
  return names
    .filter((name) => expression.test(name))
    .sort()
    .map((name) => posix.join(directory, name));
}

/** Copies a file or a directory's contents to `target` inside `root`, owned by `owner`. */
async function copyTree(
  source: string,
  root: string,
  target: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  const stat = await lstat(source);
  const hostTarget = await resolveInRoot(root, target, false);
  await mkdir(await resolveInRoot(root, posix.dirname(target)), { recursive: true });
  if (stat.isDirectory()) {
    await mkdir(hostTarget, { recursive: true });
    await chmod(hostTarget, stat.mode & 0o7777);
    await chown(hostTarget, owner.uid, owner.gid);
    for (const name of await readdir(source)) {
      await copyTree(join(source, name), root, posix.join(target, name), owner);
    }
    return;
  }
  await rm(hostTarget, { recursive: true, force: true });
  if (stat.isSymbolicLink()) {
    await symlink(await readlink(source), hostTarget);
    await lchown(hostTarget, owner.uid, owner.gid);
    return;
  }
  if (!stat.isFile()) return;
  await copyFile(source, hostTarget);
  await chmod(hostTarget, stat.mode & 0o7777);
  await chown(hostTarget, owner.uid, owner.gid);
  await utimes(hostTarget, stat.atime, stat.mtime);
}

/** The image's config bytes and manifest, as pushed. */
export function imageManifest(image: BuiltImage): { config: Buffer; manifest: Buffer } {
  const config = Buffer.from(JSON.stringify(image.config));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: image.layers.map((layer) => layer.descriptor),
  };
  return { config, manifest: Buffer.from(JSON.stringify(manifest)) };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Pushes a built image to one target: every layer the target lacks (streamed from its file or
 * from the base image's registry), the config, then the manifest under the target's tag.
 * Returns the manifest digest.
 */
export async function pushImage(
  image: BuiltImage,
  target: ImageName,
  client: RegistryClient,
  log: (text: string) => void,
): Promise<string> {
  const { config, manifest } = imageManifest(image);
  for (const layer of image.layers) {
    const outcome = await client.pushBlob(target.repository, layer.descriptor, layer.open);
    log(
      `${layer.descriptor.digest.slice(7, 19)}: ${outcome === 'exists' ? 'Layer already exists' : 'Pushed'}\n`,
    );
  }
  await client.pushBlob(
    target.repository,
    { digest: sha256(config), size: config.length },
    () => config,
  );
  const digest = await client.putManifest(
    target.repository,
    target.reference,
    manifest,
    MediaType.OciManifest,
  );
  log(`${target.reference}: digest: ${digest} size: ${manifest.length}\n`);
  return digest;
}

export { DockerfileError };
