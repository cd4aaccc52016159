/**
 * Reading the Kubernetes manifests of deploy/k8s and the rules they follow: schema validity
 * (kubernetes-models), no unknown fields (the models' TypeScript types), pod security, the
 * platform's configuration, secrets and health endpoints, and module command lines.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { arrayOf, at, isRecord, recordOf, recordsOf, scalarText, stringOf, stringsOf } from './plain-data.js';
import { readYamlDocuments, REPO_ROOT } from './repo-facts.js';

/** One document of a manifest file. */
export interface Manifest {
  /** Repository-relative path of the file. */
  readonly file: string;
  readonly doc: Record<string, unknown>;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
}

/** Every manifest document under `dir` (kustomization.yaml files are kustomize's, not Kubernetes objects). */
export function loadManifests(dir: string): Manifest[] {
  const out: Manifest[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name) && entry.name !== 'kustomization.yaml') {
        for (const doc of readYamlDocuments(path)) {
          if (!isRecord(doc)) continue;
          out.push({
            file: relative(REPO_ROOT, path),
            doc,
            apiVersion: stringOf(doc.apiVersion) ?? '',
            kind: stringOf(doc.kind) ?? '',
            name: stringOf(at(doc, 'metadata.name')) ?? '',
          });
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** `kind/name (file)`, for messages. */
export function describe(manifest: Pick<Manifest, 'kind' | 'name' | 'file'>): string {
  return `${manifest.kind}/${manifest.name} (${manifest.file})`;
}

/** The kubernetes-models module of an apiVersion and kind (`apps/v1` + `Deployment`). */
function modelSpecifier(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validates a manifest against the Kubernetes JSON schema shipped in kubernetes-models. */
export async function schemaProblems(
  manifest: Pick<Manifest, 'apiVersion' | 'kind' | 'name' | 'file' | 'doc'>,
): Promise<string[]> {
  let loaded: unknown;
  try {
    loaded = await import(modelSpecifier(manifest.apiVersion, manifest.kind));
  } catch {
    return [`${describe(manifest)}: kubernetes-models has no schema for ${manifest.apiVersion} ${manifest.kind}`];
  }
  const Model = isRecord(loaded) ? loaded[manifest.kind] : undefined;
  if (typeof Model !== 'function') return [`${describe(manifest)}: kubernetes-models exports no ${manifest.kind}`];
  const { apiVersion: _apiVersion, kind: _kind, ...data } = manifest.doc;
  const instance = new (Model as new (data: unknown) => { validate?: unknown })(data);
  if (typeof instance.validate !== 'function')
    return [`${describe(manifest)}: the ${manifest.kind} model has no validate()`];
  try {
    (instance.validate as () => void).call(instance);
    return [];
  } catch (error) {
    return [`${describe(manifest)}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

/**
 * Unknown or mistyped fields, found by type-checking each manifest as an object literal of its
 * kubernetes-models interface (`const doc: IDeployment = {...}`): the JSON schemas accept
 * additional properties, TypeScript's excess property check does not.
 */
export function unknownFieldProblems(
  manifests: readonly Pick<Manifest, 'apiVersion' | 'kind' | 'name' | 'file' | 'doc'>[],
): string[] {
  const fileName = join(REPO_ROOT, 'integration-tests', 'src', '__k8s-field-check.ts');
  const lines: string[] = [];
  const starts: { line: number; manifest: (typeof manifests)[number] }[] = [];
  manifests.forEach((manifest, index) => {
    lines.push(
      `import type { I${manifest.kind} as T${index} } from '${modelSpecifier(manifest.apiVersion, manifest.kind)}';`,
    );
  });
  manifests.forEach((manifest, index) => {
    starts.push({ line: lines.length, manifest });
    lines.push(...`export const doc${index}: T${index} = ${JSON.stringify(manifest.doc, null, 2)};`.split('\n'));
  });
  const source = `${lines.join('\n')}\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readSource = host.getSourceFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === fileName
      ? ts.createSourceFile(name, source, languageVersion)
      : readSource(name, languageVersion, onError, shouldCreate);
  host.fileExists = (name) => name === fileName || exists(name);
  const program = ts.createProgram([fileName], options, host);
  const problems: string[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) {
      problems.push(message);
      continue;
    }
    const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line;
    const owner = [...starts].reverse().find((start) => start.line <= line)?.manifest;
    const text = source.split('\n')[line]?.trim() ?? '';
    problems.push(`${owner ? describe(owner) : 'imports'}: ${message} (at ${text.slice(0, 80)})`);
  }
  return problems;
}

/** The pod template spec of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob), or undefined. */
export function podSpecOf(doc: unknown): Record<string, unknown> | undefined {
  const kind = stringOf(recordOf(doc).kind);
  const spec = kind === 'CronJob' ? at(doc, 'spec.jobTemplate.spec.template.spec') : at(doc, 'spec.template.spec');
  return isRecord(spec) ? spec : undefined;
}

/** The pod template metadata labels of a workload. */
export function podLabelsOf(doc: unknown): Record<string, string> {
  const kind = stringOf(recordOf(doc).kind);
  const labels = recordOf(
    kind === 'CronJob'
      ? at(doc, 'spec.jobTemplate.spec.template.metadata.labels')
      : at(doc, 'spec.template.metadata.labels'),
  );
  return Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, scalarText(value) ?? '']));
}

/** Init containers and containers of a pod spec. */
export function allContainers(pod: Record<string, unknown>): Record<string, unknown>[] {
  return [...recordsOf(pod.initContainers), ...recordsOf(pod.containers)];
}

/** Splits a shell command line into words (quotes removed; no expansion). */
export function shellWords(script: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let started = false;
  let depth = 0;
  for (const char of script) {
    if (quote === undefined && depth === 0 && /\s/.test(char)) {
      if (started) words.push(current);
      current = '';
      started = false;
      continue;
    }
    started = true;
    if (quote === undefined && (char === '"' || char === "'")) quote = char;
    else if (quote === char && depth === 0) quote = undefined;
    else {
      if (char === '(' && current.endsWith('$')) depth += 1;
      else if (char === ')' && depth > 0) depth -= 1;
      current += char;
    }
  }
  if (started) words.push(current);
  return words;
}

/** Kubernetes' own expansion of command/args: `$$` is a literal `$`. */
export function unescapeKubernetes(text: string): string {
  return text.replaceAll('$$', '$');
}

/** How a container runs the platform-host CLI. */
export interface HostCommand {
  /** The CLI arguments, `$@` of a wrapper replaced by the container args; dynamic values kept as written. */
  readonly argv: string[];
  /** The shell script of a wrapper (after Kubernetes' `$$` escape), if the container uses one. */
  readonly script: string | undefined;
}

/**
 * The CLI command line of a container of the platform-host image: its args when it keeps the
 * image ENTRYPOINT; with a `sh -c` wrapper (optionally under tini), the words after
 * `platform-host.js`, which the wrapper must `exec` so the host receives the signals.
 */
export function hostCommandOf(container: Record<string, unknown>): HostCommand | { problem: string } {
  const args = stringsOf(container.args).map(unescapeKubernetes);
  const command = stringsOf(container.command).map(unescapeKubernetes);
  if (command.length === 0) return { argv: args, script: undefined };
  const shellAt = command.findIndex((word) => word === '/bin/sh' || word === 'sh');
  if (shellAt < 0 || command[shellAt + 1] !== '-c')
    return { problem: `command ${JSON.stringify(command)} is neither the image entrypoint nor a sh -c wrapper` };
  if (shellAt > 0 && !(command[0] ?? '').endsWith('tini'))
    return { problem: `command ${JSON.stringify(command)} runs the shell under ${command[0] ?? ''}, not tini` };
  const script = command[shellAt + 2] ?? '';
  const words = shellWords(script);
  const entry = words.findIndex((word) => word.endsWith('host/runtime/bin/platform-host.js'));
  if (words[0] !== 'exec' || words[1] !== 'node' || entry !== 2)
    return {
      problem: `the wrapper "${script}" does not "exec node .../platform-host.js": the host would not receive SIGTERM`,
    };
  return { argv: words.slice(entry + 1).flatMap((word) => (word === '$@' ? args : [word])), script };
}

/** The container port a probe or Service targets (`port: health` or a number). */
export function resolvePort(container: Record<string, unknown>, port: unknown): number | undefined {
  if (typeof port === 'number') return port;
  const named = recordsOf(container.ports).find((candidate) => candidate.name === port);
  const number = named?.containerPort;
  return typeof number === 'number' ? number : undefined;
}

/** Problems of a pod spec against the "restricted" Pod Security Standard plus a read-only root file system. */
export function podSecurityProblems(where: string, pod: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const podContext = recordOf(pod.securityContext);
  if (pod.hostNetwork === true || pod.hostPID === true || pod.hostIPC === true)
    problems.push(`${where}: uses host namespaces`);
  if (recordsOf(pod.volumes).some((volume) => volume.hostPath !== undefined))
    problems.push(`${where}: mounts a hostPath volume`);
  if (pod.automountServiceAccountToken !== false)
    problems.push(`${where}: mounts a service account token (automountServiceAccountToken is not false)`);
  const podSeccomp = stringOf(at(podContext, 'seccompProfile.type'));
  for (const container of allContainers(pod)) {
    const name = `${where} container ${stringOf(container.name) ?? '?'}`;
    const context = recordOf(container.securityContext);
    if (podContext.runAsNonRoot !== true && context.runAsNonRoot !== true)
      problems.push(`${name}: runAsNonRoot is not true`);
    if (context.runAsUser === 0 || (podContext.runAsUser === 0 && context.runAsUser === undefined))
      problems.push(`${name}: runs as uid 0`);
    if (context.privileged === true) problems.push(`${name}: is privileged`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${name}: allowPrivilegeEscalation is not false`);
    if (!stringsOf(at(context, 'capabilities.drop')).includes('ALL'))
      problems.push(`${name}: does not drop ALL capabilities`);
    if (stringsOf(at(context, 'capabilities.add')).length > 0) problems.push(`${name}: adds capabilities`);
    const seccomp = stringOf(at(context, 'seccompProfile.type')) ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${name}: no RuntimeDefault seccomp profile`);
    if (context.readOnlyRootFilesystem !== true) problems.push(`${name}: the root file system is writable`);
    const resources = recordOf(container.resources);
    for (const path of ['requests.cpu', 'requests.memory', 'limits.memory']) {
      if (scalarText(at(resources, path)) === undefined) problems.push(`${name}: no resources.${path}`);
    }
  }
  return problems;
}

/** The seconds a `preStop: exec: [sleep, N]` pauses, else 0. */
export function preStopSeconds(container: Record<string, unknown>): number {
  const command = stringsOf(at(container, 'lifecycle.preStop.exec.command'));
  if (command[0] === 'sleep') return Number(command[1] ?? 0);
  const sleep = at(container, 'lifecycle.preStop.sleep.seconds');
  return typeof sleep === 'number' ? sleep : 0;
}

/** Mount paths of a container. */
export function mountPaths(container: Record<string, unknown>): string[] {
  return recordsOf(container.volumeMounts).map((mount) => stringOf(mount.mountPath) ?? '');
}

/** True when `path` is `mount` or inside it. */
export function isUnder(path: string, mount: string): boolean {
  return path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
}

/** A value such as `values: [2]` of a pod failure policy's onExitCodes. */
export function exitCodeRules(jobSpec: unknown): { action: string; container: string | undefined; codes: number[] }[] {
  return recordsOf(at(jobSpec, 'podFailurePolicy.rules'))
    .filter((rule) => rule.onExitCodes !== undefined)
    .map((rule) => ({
      action: stringOf(rule.action) ?? '',
      container: stringOf(at(rule, 'onExitCodes.containerName')),
      codes: arrayOf(at(rule, 'onExitCodes.values')).filter((value): value is number => typeof value === 'number'),
    }));
}

/** Words in a secret value that stand for the real value. */
const PLACEHOLDER = /REPLACE_WITH_[A-Z0-9_]+|CHANGE_ME|<[a-z-]+>/;

/** Problems of a Secret template: base64 `data`, values that are not placeholders or look like real credentials. */
export function secretTemplateProblems(manifest: Pick<Manifest, 'kind' | 'name' | 'file' | 'doc'>): string[] {
  const problems: string[] = [];
  const where = describe(manifest);
  if (manifest.doc.data !== undefined)
    problems.push(`${where}: has base64 data; a template holds readable placeholders in stringData`);
  const values = Object.entries(recordOf(manifest.doc.stringData));
  if (values.length === 0) problems.push(`${where}: has no stringData keys`);
  for (const [key, raw] of values) {
    const value = scalarText(raw) ?? '';
    if (!PLACEHOLDER.test(value)) problems.push(`${where}: ${key} is not a placeholder (REPLACE_WITH_...)`);
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(value)?.[1];
    const password = userinfo?.split(':')[1];
    if (password !== undefined && !PLACEHOLDER.test(password))
      problems.push(`${where}: ${key} holds a password that is not a placeholder`);
    const stripped = value.replace(new RegExp(PLACEHOLDER.source, 'g'), '');
    if (/[A-Za-z0-9+/_=-]{20,}/.test(stripped))
      problems.push(`${where}: ${key} holds a long token that looks like a real credential`);
  }
  return problems;
}
