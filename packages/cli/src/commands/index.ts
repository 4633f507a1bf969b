import type { Command } from "../command.ts";
import { containerHostCommand } from "./container-host.ts";
import { creditsGrantCommand } from "./credits.ts";
import { runCommand } from "./run.ts";
import { runnerServeCommand } from "./runner-serve.ts";
import { upCommand } from "./up.ts";

/** Every command of the CLI; the dispatcher picks the longest matching word path. */
export const commands: Command[] = [
  upCommand,
  runCommand,
  runnerServeCommand,
  containerHostCommand,
  creditsGrantCommand,
];
