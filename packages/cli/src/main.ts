import { parseArgs } from "node:util";
import { type CliIo, type Command, type OptionSpec, type ParsedOptions, UserError } from "./command.ts";
import { commands } from "./commands/index.ts";

const HELP: OptionSpec = { name: "help", short: "h", type: "boolean", description: "Show this help" };

/**
 * Runs the CLI with `argv` (without the node and script paths) and returns the exit code. User
 * mistakes print one line and exit 2; anything else is a bug and prints its stack (exit 1).
 *
 * @example
 * const code = await runCli(["run", "--repo", ".", "--agent", "shell", "--script", "job.sh"]);
 */
export async function runCli(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const controller = new AbortController();
  const full: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    signal: io.signal ?? controller.signal,
    isTTY: io.isTTY ?? Boolean(process.stdout.isTTY),
  };
  const ownSignals = io.signal === undefined;
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    full.stderr.write(`\n${sig === "SIGINT" ? "interrupted" : "terminating"}: stopping (again to force)\n`);
    controller.abort();
  };
  if (ownSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    return await dispatch(argv, full);
  } catch (e) {
    if (e instanceof UserError) {
      full.stderr.write(`openagents: ${e.message}\n`);
      return 2;
    }
    full.stderr.write(
      `openagents: internal error (a bug; please report it)\n${e instanceof Error ? e.stack : String(e)}\n`,
    );
    return 1;
  } finally {
    if (ownSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const command = findCommand(argv);
  if (!command) {
    const words = argv.filter((a) => !a.startsWith("-"));
    if (words.length === 0 || argv[0] === "help" || argv.includes("--help") || argv.includes("-h")) {
      io.stdout.write(topHelp(words.filter((w) => w !== "help")));
      return 0;
    }
    throw new UserError(`unknown command "${words.join(" ")}" (see openagents --help)`);
  }
  const rest = argv.slice(command.path.length);
  const options = parseOptions(command, rest);
  if (options.help === true) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  return command.handler(options, io);
}

function findCommand(argv: string[]): Command | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.path.every((w, i) => argv[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best;
}

function parseOptions(command: Command, args: string[]): ParsedOptions {
  const specs = [...command.options, HELP];
  const config = Object.fromEntries(
    specs.map((o) => [
      o.name,
      { type: o.type, multiple: o.multiple ?? false, ...(o.short ? { short: o.short } : {}) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args,
      options: config,
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > 0) {
      throw new UserError(
        `unexpected argument "${positionals[0]}" for "${command.path.join(" ")}" (see --help)`,
      );
    }
    return values as ParsedOptions;
  } catch (e) {
    if (e instanceof UserError) throw e;
    // parseArgs' own messages are clear but long; keep their first sentence.
    const message = e instanceof Error ? e.message.split(". ")[0] : String(e);
    throw new UserError(`${message} (see openagents ${command.path.join(" ")} --help)`);
  }
}

function commandHelp(c: Command): string {
  const lines = [`Usage: openagents ${c.path.join(" ")} [options]`, "", c.summary, "", "Options:"];
  const specs = [...c.options, HELP];
  const left = specs.map(
    (o) => `  ${o.short ? `-${o.short}, ` : ""}--${o.name}${o.value ? ` ${o.value}` : ""}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  specs.forEach((o, i) => {
    lines.push(`${left[i]!.padEnd(width)}${o.description}${o.multiple ? " (repeatable)" : ""}`);
  });
  if (c.details) lines.push("", c.details.trim());
  return `${lines.join("\n")}\n`;
}

function topHelp(prefix: string[]): string {
  const shown = commands.filter((c) => prefix.every((w, i) => c.path[i] === w));
  const list = (shown.length ? shown : commands).map((c) => `  ${c.path.join(" ").padEnd(18)}${c.summary}`);
  return [
    "openagents — run coding agents on git repositories: here, in the cloud, or on the Nostr market",
    "",
    "Usage: openagents <command> [options]",
    "",
    "Commands:",
    ...list,
    "",
    "Run `openagents <command> --help` for a command's options.",
    "",
  ].join("\n");
}
