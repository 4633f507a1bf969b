import { createApp } from "./app.ts";

export { ContainerDO } from "./container-do.ts";
export { TaskDO } from "./task-do.ts";
export { TunnelDO } from "./tunnel-do.ts";

export default createApp();
