import type { Command } from "../command.ts";
import { connectCommand } from "./connect.ts";
import { containerHostCommand } from "./container-host.ts";
import { creditsGrantCommand } from "./credits.ts";
import { jobCancelCommand, jobListCommand, jobShowCommand, jobSubmitCommand } from "./job.ts";
import { keysCommand, keysCreateCommand, keysImportCommand } from "./keys.ts";
import { providerStatusCommand } from "./provider.ts";
import { runCommand } from "./run.ts";
import { runnerServeCommand } from "./runner-serve.ts";
import { upCommand } from "./up.ts";

/** Every command of the CLI; the dispatcher picks the longest matching word path. */
export const commands: Command[] = [
  upCommand,
  runCommand,
  connectCommand,
  jobSubmitCommand,
  jobListCommand,
  jobShowCommand,
  jobCancelCommand,
  keysCommand,
  keysCreateCommand,
  keysImportCommand,
  providerStatusCommand,
  creditsGrantCommand,
  runnerServeCommand,
  containerHostCommand,
];
