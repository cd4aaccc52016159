/** A small Dockerfile reader (instructions, stages, exec forms) and the rules the production image follows. */

/** One instruction, continuation lines joined, comments removed. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

/** One build stage: `FROM <image> [AS <name>]` and what follows until the next FROM. */
export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

/** Splits a Dockerfile into instructions (`\` line continuations, `#` comment lines). */
export function readInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && pending === undefined)) return;
    const continued = trimmed.endsWith('\\');
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    pending =
      pending === undefined ? { text: body, line: index + 1 } : { text: `${pending.text} ${body}`, line: pending.line };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/s.exec(pending.text.trim());
    if (match?.[1] !== undefined)
      instructions.push({ keyword: match[1].toUpperCase(), args: (match[2] ?? '').trim(), line: pending.line });
    pending = undefined;
  });
  return instructions;
}

/** Replaces `${NAME}` and `$NAME` with ARG defaults. */
export function expandArgs(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => args.get(braced ?? bare ?? '') ?? whole,
  );
}

/** Parses a Dockerfile into global ARGs and stages. */
export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of readInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({
        image: expandArgs(words[0] ?? '', globalArgs),
        name: asIndex >= 0 ? words[asIndex + 1] : undefined,
        instructions: [],
      });
      continue;
    }
    const current = stages.at(-1);
    if (current === undefined) {
      if (instruction.keyword === 'ARG') {
        const [name, value] = instruction.args.split('=', 2);
        if (name !== undefined) globalArgs.set(name.trim(), (value ?? '').replace(/^"|"$/g, ''));
      }
      continue;
    }
    current.instructions.push(instruction);
  }
  return { globalArgs, stages };
}

/** The JSON array of an exec-form instruction (`["a", "b"]`), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The options (`--interval=30s`) and the rest of an instruction such as HEALTHCHECK or COPY. */
export function splitOptions(args: string): { options: Map<string, string>; rest: string } {
  const options = new Map<string, string>();
  let rest = args;
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!match?.[1]) break;
    options.set(match[1], match[2] ?? '');
    rest = rest.slice(match[0].length);
  }
  return { options, rest };
}

/** The image the production stage must be built on. */
export const RUNTIME_BASE_IMAGE = 'node:24-slim';

/** The CLI entry inside the image, which ENTRYPOINT must run with node. */
export const CLI_ENTRY = 'host/runtime/bin/platform-host.js';

/**
 * Problems of a production Dockerfile: multi-stage, every stage on node:24-slim (or an earlier
 * stage), a full `npm ci` and `npm run build` in a build stage, `npm ci --omit=dev` for the
 * runtime dependencies, and a final stage that runs as a non-root user with an exec-form
 * ENTRYPOINT running the CLI with node, a default CMD and an exec-form HEALTHCHECK, and
 * that writes nothing as that user (the application files stay root's, read-only to it).
 */
export function productionDockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const { stages } = parseDockerfile(text);
  if (stages.length < 2) problems.push(`expected a multi-stage build, found ${stages.length} stage(s)`);
  const names = new Set<string>();
  for (const stage of stages) {
    if (stage.image !== RUNTIME_BASE_IMAGE && !names.has(stage.image)) {
      problems.push(
        `stage ${stage.name ?? '(unnamed)'} is built FROM ${stage.image}, expected ${RUNTIME_BASE_IMAGE} or an earlier stage`,
      );
    }
    if (stage.name !== undefined) names.add(stage.name);
    for (const instruction of stage.instructions) {
      const from = splitOptions(instruction.args).options.get('from');
      if (instruction.keyword === 'COPY' && from !== undefined && !names.has(from)) {
        problems.push(`line ${instruction.line}: COPY --from=${from} names no earlier stage`);
      }
    }
  }
  const runs = stages.flatMap((stage) =>
    stage.instructions
      .filter((instruction) => instruction.keyword === 'RUN')
      .map((instruction) => ({ stage, instruction })),
  );
  const fullInstall = runs.find(({ instruction }) => /\bnpm ci\b(?![^&;]*--omit=dev)/.test(instruction.args));
  if (fullInstall === undefined) problems.push('no build stage runs a full `npm ci`');
  else if (
    !fullInstall.stage.instructions.some(
      (instruction) => instruction.keyword === 'RUN' && /\bnpm run build\b/.test(instruction.args),
    )
  ) {
    problems.push(`stage ${fullInstall.stage.name ?? '(unnamed)'} runs npm ci but not npm run build`);
  }
  if (!runs.some(({ instruction }) => /\bnpm ci\b[^&;]*--omit=dev/.test(instruction.args)))
    problems.push('no stage installs the production dependencies with `npm ci --omit=dev`');

  const final = stages.at(-1);
  if (final === undefined) return problems;
  const last = (keyword: string): Instruction | undefined =>
    final.instructions.filter((instruction) => instruction.keyword === keyword).at(-1);
  const user = last('USER');
  const userName = user?.args.split(':')[0];
  if (user === undefined) problems.push('the final stage sets no USER: the image would run as root');
  else if (userName === 'root' || userName === '0') problems.push(`the final stage runs as USER ${user.args}`);
  const entrypoint = last('ENTRYPOINT');
  const entry = entrypoint === undefined ? undefined : execForm(entrypoint.args);
  if (entrypoint === undefined) problems.push('the final stage has no ENTRYPOINT');
  else if (entry === undefined)
    problems.push(
      `ENTRYPOINT at line ${entrypoint.line} is in shell form: a shell as PID 1 does not forward SIGTERM to the host`,
    );
  else {
    const nodeIndex = entry.indexOf('node');
    if (nodeIndex < 0 || !entry[nodeIndex + 1]?.endsWith(CLI_ENTRY))
      problems.push(`ENTRYPOINT ${JSON.stringify(entry)} does not run node ${CLI_ENTRY}`);
    else if (nodeIndex > 0 && !/(^|\/)tini$/.test(entry[0] ?? ''))
      problems.push(
        `ENTRYPOINT ${JSON.stringify(entry)} starts node through ${entry[0] ?? ''}, not directly or through tini`,
      );
  }
  const cmd = last('CMD');
  if (cmd === undefined || execForm(cmd.args) === undefined)
    problems.push('the final stage has no exec-form CMD (the default command after the ENTRYPOINT)');
  const healthcheck = last('HEALTHCHECK');
  if (healthcheck === undefined) problems.push('the final stage has no HEALTHCHECK');
  else {
    const { rest } = splitOptions(healthcheck.args);
    if (!rest.startsWith('CMD ') || execForm(rest.slice(4).trim()) === undefined)
      problems.push(`HEALTHCHECK at line ${healthcheck.line} is not "CMD [exec form]"`);
  }
  const userIndex = user === undefined ? -1 : final.instructions.indexOf(user);
  const runAfterUser = final.instructions.slice(userIndex + 1).find((instruction) => instruction.keyword === 'RUN');
  if (user !== undefined && runAfterUser !== undefined) {
    problems.push(`line ${runAfterUser.line}: RUN after USER: files it writes would belong to the runtime user`);
  }
  return problems;
}
