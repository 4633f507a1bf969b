import type { Command } from "../command.ts";
import { runCommand } from "./run.ts";
import { runnerServeCommand } from "./runner-serve.ts";

/** Every command of the CLI; the dispatcher picks the longest matching word path. */
export const commands: Command[] = [runCommand, runnerServeCommand];
