import { credentialsFromEnv, TaskManager } from "@openagents/runner";

const m = new TaskManager({ workRoot: "/tmp/webtry/work", credentials: credentialsFromEnv({}) });
const h = m.start({
  repo: "/tmp/webtry/repo",
  agent: "shell",
  script: "echo hello; seq 1 3; echo new > b.txt; echo bye >> a.txt",
});
h.log.subscribe(0, (e) => console.log(JSON.stringify(e).slice(0, 200)));
await h.done;
